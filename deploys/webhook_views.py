"""Pages and endpoints for triggers: the CI webhook, its secret, notifications, API tokens.

The webhook is the only view without login: its signature is the authentication.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from deploys import confirmations, webhooks
from deploys.jobs import QueueUnavailable
from deploys.trigger_forms import ApiTokenForm, NotificationTargetForm
from deploys.trigger_models import (
    ApiToken,
    NotificationDelivery,
    NotificationTarget,
    RejectedDelivery,
    WebhookEndpoint,
    new_secret,
)
from herokucd import siteurl
from herokucd.clientip import client_ip
from projects import audit
from projects.access import get_project_for_user
from projects.models import Role

QUEUE_UNAVAILABLE = (
    "herokucd cannot queue deploys right now (Redis is unreachable); nothing was recorded, "
    "try again or redeliver."
)
QUEUE_UNAVAILABLE_LISTED = (
    "Not acted on: herokucd could not queue deploys (Redis was unreachable). Redeliver it from "
    "your CI once herokucd is back."
)
EVENTS_SHOWN = 50
DELIVERIES_SHOWN = 30


@csrf_exempt
@require_POST
def webhook(request, public_id):
    endpoint = WebhookEndpoint.objects.select_related("project").filter(public_id=public_id).first()
    if endpoint is None:
        return JsonResponse({"error": "No webhook at this URL."}, status=404)
    source = client_ip(request)
    try:
        answer = webhooks.receive(endpoint, request.headers, request.body, source)
    except webhooks.Refused as error:
        status = 401 if isinstance(error, webhooks.SignatureError) else 400
        return _rejected(request, endpoint, status, str(error), error.listed)
    except QueueUnavailable:
        return _rejected(request, endpoint, 503, QUEUE_UNAVAILABLE, QUEUE_UNAVAILABLE_LISTED)
    if answer.outcome == webhooks.REPLAY and answer.event is None:
        listed = "Received before (same delivery id): nothing done. The first one is listed."
        webhooks.record_rejected(endpoint, request.headers, 200, listed, source)
    return JsonResponse(answer.as_json(), status=answer.status)


def _rejected(request, endpoint, status, answer, listed):
    """Answer as before, and list the delivery with the reason in the user's words."""
    webhooks.record_rejected(endpoint, request.headers, status, listed, client_ip(request))
    return JsonResponse({"error": answer}, status=status)


def _show_secret(request, project, secret, what, endpoint=None):
    """The only time a secret is shown in full: the response to the POST that made it. A
    webhook's secret comes with its URL and the CI settings that use both."""
    context = {"project": project, "secret": secret, "what": what}
    if endpoint is not None:
        context["webhook_url"] = endpoint.url_for(request)
        context["gitlab"] = "GitLab" in what
    return render(request, "deploys/triggers/secret_once.html", context)


@login_required
def triggers(request, slug):
    project, membership = get_project_for_user(request, slug)
    endpoint = WebhookEndpoint.objects.filter(project=project).first()
    context = {
        "project": project,
        "membership": membership,
        "events": _deliveries(endpoint),
        "rejected_kept": RejectedDelivery.KEEP,
    }
    return render(request, "deploys/triggers/triggers.html", context)


def _deliveries(endpoint) -> list:
    """The newest deliveries, events and rejected ones in one list, newest first."""
    if endpoint is None:
        return []
    events = list(endpoint.events.select_related("deploy")[:EVENTS_SHOWN])
    rejected = list(endpoint.rejected_deliveries.all()[:EVENTS_SHOWN])
    merged = sorted([*events, *rejected], key=lambda d: d.received_at, reverse=True)
    return merged[:EVENTS_SHOWN]


@login_required
@require_POST
def webhook_create(request, slug):
    project, _ = get_project_for_user(request, slug, Role.ADMIN)
    if WebhookEndpoint.objects.filter(project=project).exists():
        messages.warning(request, "This project already has a webhook. Rotate its secret instead.")
        return redirect("triggers", project.slug)
    endpoint = WebhookEndpoint.objects.create(project=project, secret=new_secret())
    audit.record(project, request.user, "webhook.created")
    return _show_secret(request, project, endpoint.secret, "webhook signing secret", endpoint)


@login_required
@require_POST
def webhook_rotate(request, slug):
    project, _ = get_project_for_user(request, slug, Role.ADMIN)
    endpoint = get_object_or_404(WebhookEndpoint, project=project)
    if not confirmations.is_confirmed(request):
        return _ask(request, confirmations.rotate_secret(endpoint), project)
    secret = endpoint.rotate()
    audit.record(project, request.user, "webhook.secret_rotated")
    return _show_secret(request, project, secret, "new webhook signing secret", endpoint)


@login_required
@require_POST
def webhook_delete(request, slug):
    project, _ = get_project_for_user(request, slug, Role.ADMIN)
    endpoint = get_object_or_404(WebhookEndpoint, project=project)
    if not confirmations.is_confirmed(request):
        return _ask(request, confirmations.delete_webhook(endpoint), project)
    endpoint.delete()
    audit.record(project, request.user, "webhook.deleted")
    messages.success(request, "Webhook deleted: deliveries to its URL are answered 404.")
    return redirect("triggers", project.slug)


def _ask(request, confirmation, project):
    return confirmations.ask(request, confirmation, reverse("triggers", args=[project.slug]))


@login_required
@require_POST
def gitlab_token(request, slug):
    """Create the GitLab token, or replace it (the old one keeps working for 24 hours)."""
    project, _ = get_project_for_user(request, slug, Role.ADMIN)
    endpoint = get_object_or_404(WebhookEndpoint, project=project)
    replaced = bool(endpoint.gitlab_token_hash)
    if replaced and not confirmations.is_confirmed(request):
        return _ask(request, confirmations.replace_gitlab_token(endpoint), project)
    token = endpoint.new_gitlab_token()
    audit.record(
        project,
        request.user,
        "webhook.gitlab_token_replaced" if replaced else "webhook.gitlab_token_created",
    )
    what = "new GitLab token" if replaced else "GitLab token"
    return _show_secret(request, project, token, what, endpoint)


@login_required
def notifications(request, slug):
    project, membership = get_project_for_user(request, slug)
    form = NotificationTargetForm(project=project)
    if request.method == "POST":
        project, membership = get_project_for_user(request, slug, Role.ADMIN)
        form = NotificationTargetForm(request.POST, project=project)
        if form.is_valid():
            return _add_target(request, project, form)
    return render(
        request, "deploys/triggers/notifications.html", _targets_context(project, membership, form)
    )


def _targets_context(project, membership, form):
    targets = NotificationTarget.objects.filter(environment__project=project).select_related(
        "environment"
    )
    deliveries = NotificationDelivery.objects.filter(target__in=targets).select_related(
        "target", "deploy"
    )[:DELIVERIES_SHOWN]
    return {
        "project": project,
        "membership": membership,
        "form": form,
        "targets": targets,
        "deliveries": deliveries,
        "site_url": settings.SITE_URL,
    }


def _add_target(request, project, form):
    target = form.save(commit=False)
    is_webhook = target.kind == NotificationTarget.WEBHOOK
    target.secret = new_secret() if is_webhook else ""
    target.dashboard_url = siteurl.of_request(request)  # for links while SITE_URL is unset
    target.save()
    audit.record(project, request.user, "notification.added", target=str(target))
    if is_webhook:
        return _show_secret(request, project, target.secret, "notification signing secret")
    messages.success(
        request, f"{target.shown_address} will be told about deploys of {target.environment.name}."
    )
    return redirect("notifications", project.slug)


@login_required
@require_POST
def notification_delete(request, slug, target_id):
    project, _ = get_project_for_user(request, slug, Role.ADMIN)
    target = get_object_or_404(NotificationTarget, pk=target_id, environment__project=project)
    if not confirmations.is_confirmed(request):
        back = reverse("notifications", args=[project.slug])
        return confirmations.ask(request, confirmations.stop_notifying(target), back)
    target.delete()
    audit.record(project, request.user, "notification.removed", target=str(target))
    messages.success(request, f"{target.shown_address} will no longer be notified.")
    return redirect("notifications", project.slug)


@login_required
def api_tokens(request):
    form = ApiTokenForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            token, value = ApiToken.issue(request.user, form.cleaned_data["name"])
        context = {"token": token, "value": value}
        return render(request, "deploys/triggers/token_created.html", context)
    tokens = ApiToken.objects.filter(user=request.user)
    return render(request, "deploys/triggers/tokens.html", {"form": form, "tokens": tokens})


@login_required
@require_POST
def api_token_revoke(request, token_id):
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    token.delete()
    messages.success(request, f"Token {token.name} revoked: it no longer works.")
    return redirect("api_tokens")
