"""The Plan pages: a dry run of a deploy from the Deploy form, its confirmation, or a webhook
delivery of the Triggers page (deploys/plan.py). Nothing here changes anything: no deploy is
created, nothing is written to Heroku, no git request is made."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render

from deploys import mirror, plan
from deploys.actions_views import DeployForm, _chosen
from deploys.models import Trigger
from deploys.trigger_models import WebhookEvent
from projects.access import get_project_for_user
from projects.models import Role


@login_required
def deploy_plan(request, slug):
    """The plan of what the Deploy form holds (its Plan button), or of `?environment=&ref=`."""
    project, _ = get_project_for_user(request, slug, Role.DEPLOYER)
    environments = list(project.environments.all())
    data = request.POST if request.method == "POST" else request.GET
    form = DeployForm(project, data or None)
    plans = []
    if environments and form.is_valid():
        target = form.target()
        environment = form.cleaned_data["environment"]
        plans = [plan.make(environment, user=request.user, **_one(target))]
    chosen = _chosen(environments, data.get("environment")) if environments else None
    context = {"project": project, "plans": plans, "form": form, "chosen": chosen}
    return _page(request, project, context)


@login_required
def delivery_plan(request, slug, event_id):
    """A webhook delivery replayed as a plan: what a deploy of its commit would do, for each
    environment it deploys to."""
    project, _ = get_project_for_user(request, slug, Role.DEPLOYER)
    event = get_object_or_404(WebhookEvent, pk=event_id, endpoint__project=project)
    environments = [event.environment] if event.environment else []
    if not environments and event.branch:
        environments = [e for e in project.environments.all() if e.matches(event.branch)]
    plans = [
        plan.make(env, branch=event.branch, sha=event.sha, trigger=Trigger.WEBHOOK)
        for env in environments
    ]
    context = {"project": project, "plans": plans, "event": event}
    return _page(request, project, context)


def _one(target) -> dict:
    """A confirmed commit of a branch is that commit: plan exactly it."""
    return {"sha": target["sha"]} if target.get("sha") else {"branch": target["branch"]}


def _page(request, project, context):
    context["fetched_at"] = mirror.fetched_at(project)
    return render(request, "deploys/actions/deploy_plan.html", context)
