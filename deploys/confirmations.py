"""Destructive actions ask first, one way for all, and say what will happen.

The button is a plain POST form (includes/confirm_form.html). Without JavaScript the POST,
which lacks `confirmed=yes`, comes back as a page (includes/confirm_page.html) saying what will
happen, with a button that posts the same action again, confirmed. With JavaScript
(static/js/confirm.js) the same words open in a native <dialog> first, and confirming posts
`confirmed=yes` at once. Views ask with `if not is_confirmed(request): return ask(...)`, after
checking who may do it, so a refusal is never hidden behind a question.
"""

from dataclasses import dataclass

from django.shortcuts import render
from django.utils import timezone
from django.utils.timesince import timeuntil

CONFIRMED = "confirmed"


@dataclass(frozen=True)
class Confirmation:
    question: str  # "Stop notifying ops@example.com?"
    consequences: str  # what will happen, to the app too
    button: str  # the button that does it
    keep: str  # the way back


def is_confirmed(request) -> bool:
    return request.POST.get(CONFIRMED) == "yes"


def ask(request, confirmation: Confirmation, back_url: str):
    context = {"confirmation": confirmation, "action": request.path, "back_url": back_url}
    return render(request, "includes/confirm_page.html", context)


# What each action says


def stop_notifying(target) -> Confirmation:
    address = target.shown_address
    secret = " Its signing secret is forgotten: adding the URL again makes a new one." * bool(
        target.secret
    )
    return Confirmation(
        question=f"Stop notifying {address}?",
        consequences=(
            f"{address} will no longer be told when deploys of {target.environment.name} fail, "
            f"succeed or recover; messages not yet delivered to it are dropped.{secret}"
        ),
        button=f"Stop notifying {address}",
        keep="Keep notifying",
    )


def cancel_deploy(deploy) -> Confirmation:
    if deploy.state == "waiting":
        what = f"It stops waiting for approval and never starts; {deploy.app_name} is unchanged."
    elif deploy.state == "queued":
        what = f"It leaves the queue; nothing has been changed on {deploy.app_name}."
    else:
        what = (
            f"The current step stops, then herokucd undoes maintenance mode and scaling on "
            f"{deploy.app_name}. What already reached Heroku stays: a release it made stays "
            "live and a migration that ran is not undone (roll back to undo the release)."
        )
    return Confirmation(
        question=f"Cancel deploy #{deploy.number} to {deploy.environment_name}?",
        consequences=what,
        button=f"Cancel deploy #{deploy.number}",
        keep={"queued": "Keep it queued", "waiting": "Keep it waiting"}.get(
            deploy.state, f"Keep deploy #{deploy.number} running"
        ),
    )


def delete_webhook(endpoint) -> Confirmation:
    return Confirmation(
        question=f"Delete the webhook of {endpoint.project.name}?",
        consequences=(
            "CI deliveries to its URL will be answered 404 and deploy nothing. Its secret, "
            "GitLab token and list of deliveries are deleted; deploys it started stay. A new "
            "webhook gets a new URL and secret, to set again in your CI."
        ),
        button="Delete the webhook",
        keep="Keep the webhook",
    )


def _previous_still_valid(until) -> str:
    if until and until > timezone.now():
        return f" The secret before it, still accepted for {timeuntil(until)}, stops working now."
    return ""


def rotate_secret(endpoint) -> Confirmation:
    return Confirmation(
        question="Rotate the webhook's signing secret?",
        consequences=(
            "A new secret is made and shown once. The current one keeps working for 24 hours; "
            "after that, deliveries signed with it are refused (401) until your CI has the new "
            "one." + _previous_still_valid(endpoint.previous_valid_until)
        ),
        button="Rotate secret",
        keep="Keep the current secret",
    )


def replace_gitlab_token(endpoint) -> Confirmation:
    return Confirmation(
        question="Replace the GitLab token?",
        consequences=(
            "A new GitLab token is made and shown once. The current one keeps working for 24 "
            "hours; after that, GitLab deliveries sending it are refused (401) until the GitLab "
            "webhook's Secret token is the new one."
            + _previous_still_valid(endpoint.previous_gitlab_token_valid_until)
        ),
        button="Replace GitLab token",
        keep="Keep the current token",
    )


ACTIONS = {
    "stop_notifying": stop_notifying,
    "cancel_deploy": cancel_deploy,
    "delete_webhook": delete_webhook,
    "rotate_secret": rotate_secret,
    "replace_gitlab_token": replace_gitlab_token,
}
