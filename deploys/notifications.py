"""Tell people a deploy finished: email and signed outgoing webhooks, per environment.

`deploy_finished(deploy)` only enqueues one `deliver` job per interested target, so a slow or
dead receiver never holds up a deploy. It is called once per deploy, by whoever ended it with a
conditional UPDATE that changed the row and set `notify_pending`: the pipeline at the end of a
deploy, or the reaper (`deploys/reaper.py`) after it cleaned up and failed the deploy of a dead
worker. Each run of `deliver` is one attempt, recorded as a `NotificationDelivery` row; a failed
attempt raises, and RQ retries it with backoff.

Nothing is lost while Redis is away: `notify_pending` stays set when the jobs cannot be queued,
and the workers' maintenance (`send_pending`, every minute) queues them once Redis is back. A
deploy's notifications are claimed by clearing the flag with a conditional UPDATE, so they are
queued once (if Redis fails between two targets, the first may hear of the deploy twice).

Webhooks are signed `X-Herokucd-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">`
with the target's secret; receivers should refuse old timestamps to stop replays.
"""

import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta

import django_rq
from django.conf import settings
from django.core.mail import send_mail
from django.urls import NoReverseMatch
from django.utils import timezone
from rq import Retry

from deploys.models import Deploy, State
from deploys.templatetags.deploy_tags import duration
from deploys.trigger_models import NotificationDelivery, NotificationTarget
from herokucd import http, siteurl

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
FAILED, SUCCEEDED, RECOVERED = "failed", "succeeded", "recovered"
WAITING = "approval"  # a deploy waits for approval (deploys/approvals.py): every target hears
HEADLINES = {
    FAILED: "failed",
    SUCCEEDED: "succeeded",
    RECOVERED: "succeeded again (recovered)",
    WAITING: "waits for approval",
}


class DeliveryFailed(Exception):
    """An attempt did not get through; the message never holds the URL (it may be a secret)."""

    def __init__(self, message, response_code=None):
        super().__init__(message)
        self.response_code = response_code


# What happened


def event_of(deploy) -> str | None:
    """failed, succeeded, recovered (a success right after a failure), or None (canceled)."""
    if deploy.state == State.FAILED:
        return FAILED
    if deploy.state != State.SUCCEEDED:
        return None
    before = (
        Deploy.objects.filter(
            environment_id=deploy.environment_id,
            number__lt=deploy.number,
            state__in=[State.SUCCEEDED, State.FAILED],
        )
        .order_by("-number")
        .values_list("state", flat=True)
        .first()
    )
    return RECOVERED if before == State.FAILED else SUCCEEDED


def deploy_finished(deploy):
    """Queue the notifications of `deploy`, which just ended; raises when Redis is away (they
    stay pending, for `send_pending`)."""
    if not deploy.take_notifications():
        return  # queued already (by the workers' maintenance)
    try:
        event = event_of(deploy)
        if event is None or deploy.environment_id is None:
            return
        targets = NotificationTarget.objects.filter(environment_id=deploy.environment_id)
        for target in targets:
            if target.wants(event):
                enqueue(target, deploy, event)
    except BaseException:
        deploy.leave_notifications_pending()
        raise


def deploy_ended(deploy):
    """`deploy_finished` for code ending a deploy, which must go on whatever happens: never
    raises (a notification that cannot be queued now stays pending, for `send_pending`)."""
    try:
        deploy_finished(deploy)
    except Exception:
        log.exception("Could not send the notifications of deploy %s", deploy.pk)


def deploy_waiting(deploy):
    """Queue the message that `deploy` waits for approval to every target of its environment:
    the approvers need to hear, whatever a target listens to otherwise. Raises when Redis is
    away (the deploy page still shows it waiting)."""
    targets = NotificationTarget.objects.filter(environment_id=deploy.environment_id)
    for target in targets:
        enqueue(target, deploy, WAITING)


PENDING_AGE_SECONDS = 30  # younger ones are still being queued by whoever ended the deploy


def send_pending(min_age: int = PENDING_AGE_SECONDS) -> list:
    """Queue the notifications that could not be queued when their deploy ended (Redis was
    away); the deploys whose notifications were queued now."""
    since = timezone.now() - timedelta(seconds=min_age)
    pending = Deploy.objects.filter(notify_pending=True, finished_at__lt=since)
    sent = []
    for deploy in pending.select_related("project", "triggered_by").order_by("pk"):
        deploy_finished(deploy)
        sent.append(deploy)
    return sent


def retry_intervals() -> list[int]:
    return getattr(settings, "NOTIFICATION_RETRY_INTERVALS", [30, 120, 600])


def enqueue(target, deploy, event):
    intervals = retry_intervals()
    django_rq.get_queue("default").enqueue(
        deliver,
        target.pk,
        deploy.pk,
        event,
        retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
        job_timeout=60,
        description=f"notify deploy #{deploy.number} {event}",
    )


# The message


def duration_text(deploy) -> str:
    return duration(deploy.duration) or "—"


def trigger_text(deploy) -> str:
    who = deploy.triggered_by.get_username() if deploy.triggered_by else ""
    text = deploy.get_trigger_display().lower()
    text += f" by {who}" if who else ""
    return text + (f" ({deploy.trigger_detail})" if deploy.trigger_detail else "")


def deploy_link(deploy, dashboard_url="") -> str:
    """SITE_URL, else the address the target was added from (a worker has no request)."""
    try:
        path = deploy.get_absolute_url()
    except NoReverseMatch:  # the deploy page is not routed: the project page still helps
        path = deploy.project.get_absolute_url()
    return siteurl.absolute(path, fallback=dashboard_url)


def message(deploy, event, dashboard_url="") -> dict:
    project = deploy.project
    headline = (
        f"Deploy #{deploy.number} of {project.name} to {deploy.environment_name} {HEADLINES[event]}"
    )
    facts = {
        "project": project.name,
        "environment": deploy.environment_name,
        "app": deploy.app_name,
        "branch": deploy.branch,
        "sha": deploy.sha,
        "short_sha": deploy.short_sha,
        "trigger": trigger_text(deploy),
        "duration": duration_text(deploy),
        "reason": deploy.reason,
        "app_state": app_state_text(deploy.end_state),
        "url": deploy_link(deploy, dashboard_url),
    }
    if event == WAITING:
        facts["reason"] = waiting_text(deploy)
    return {"event": event, "headline": headline, "deploy": deploy.number, **facts}


def waiting_text(deploy) -> str:
    needed = deploy.environment.required_approvals if deploy.environment else 0
    expires = f" before {deploy.approval_deadline:%Y-%m-%d %H:%M} UTC, when it expires"
    return (
        f"It needs {needed} approval{'s' if needed != 1 else ''} to start: approve or reject "
        f"it on its page{expires if deploy.approval_deadline else ''}."
    )


MIGRATION_WORDS = {
    "timed_out": "the migration timed out (the database may be half-migrated)",
    "canceled": "the migration was stopped by the cancel (the database may be half-migrated)",
    "error": "the migration's end is unknown (the database may be half-migrated)",
}


RELEASE_PHASE_WORDS = {
    "failed": "the release phase of v{version} failed",
    "expired": "the release phase of v{version} expired",
    "timed_out": "the release phase of v{version} was still running when herokucd stopped waiting",
    "running": "the release phase of v{version} was still running when the deploy ended",
}


def app_state_text(end) -> str:
    """Where a failed or canceled deploy left the app, in one line (deploys/pipeline.py
    records it): "release v12 (commit abc1234) is live, maintenance off, web=1, worker=2; ..."."""
    if not end:
        return ""
    if end.get("error"):
        parts = [end["error"]]
    else:
        release = end.get("release") or {}
        commit = f" (commit {release['commit'][:7]})" if release.get("commit") else ""
        live = f"release v{release['version']}{commit} is live" if release else "no release"
        maintenance = "maintenance " + ("on" if end.get("maintenance") else "off")
        processes = ", ".join(f"{kind}={n}" for kind, n in (end.get("formation") or {}).items())
        parts = [", ".join(part for part in (live, maintenance, processes) if part)]
    phase = end.get("release_phase") or {}
    if phase.get("outcome") in RELEASE_PHASE_WORDS:
        parts.append(RELEASE_PHASE_WORDS[phase["outcome"]].format(**phase))
    migration = end.get("migration") or {}
    if migration.get("ran"):
        outcome = migration.get("outcome")
        if outcome == "exited":
            parts.append(f"the migration exited with status {migration.get('exit_status')}")
        else:
            parts.append(MIGRATION_WORDS.get(outcome, MIGRATION_WORDS["error"]))
    elif migration.get("planned"):
        parts.append("the migration did not run")
    return "; ".join(parts) + "."


def as_text(msg) -> str:
    lines = [
        msg["headline"] + ".",
        "",
        f"Project: {msg['project']}",
        f"Environment: {msg['environment']} (app {msg['app']})",
        f"Branch: {msg['branch'] or '—'} at {msg['short_sha'] or '—'}",
        f"Triggered: {msg['trigger']}",
        f"Duration: {msg['duration']}",
    ]
    if msg["reason"]:
        lines.append(f"Why: {msg['reason']}")
    if msg.get("app_state"):
        lines.append(f"Now: {msg['app_state']}")
    return "\n".join([*lines, "", f"Log: {msg['url']}"])


def as_slack(msg) -> dict:
    """Slack's incoming-webhook body: mrkdwn text with a link."""
    first = f"*<{msg['url']}|{msg['headline']}>*"
    rest = as_text(msg).split("\n")[2:-2]
    return {"text": "\n".join([first, *rest])}


# Sending


def sign(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def send_webhook(target, msg) -> int:
    body = json.dumps(as_slack(msg) if target.slack_format else msg).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-Herokucd-Event": msg["event"],
        "X-Herokucd-Signature": f"t={timestamp},v1={sign(target.secret, timestamp, body)}",
    }
    try:
        response = http.request(
            "POST",
            target.address,
            body=body,
            headers=headers,
            what="Notification",
            redirects=0,
            max_bytes=4096,
            timeout=TIMEOUT_SECONDS,
        )
    except http.Refused as refused:  # no status is recorded: it would answer for an inside host
        raise DeliveryFailed(str(refused)) from None
    except http.RequestFailed as error:
        raise DeliveryFailed(f"Could not deliver it: {error}.") from None
    if not 200 <= response.status < 300:
        raise DeliveryFailed(f"The receiver answered HTTP {response.status}.", response.status)
    return response.status


def send_email(target, msg) -> None:
    try:
        send_mail(msg["headline"], as_text(msg), settings.DEFAULT_FROM_EMAIL, [target.address])
    except OSError as error:  # smtplib's errors are OSErrors
        raise DeliveryFailed(f"The mail server refused it ({type(error).__name__}).") from None


SENDERS = {NotificationTarget.WEBHOOK: send_webhook, NotificationTarget.EMAIL: send_email}


def deliver(target_id, deploy_id, event):
    """One attempt (an RQ job); raises DeliveryFailed so RQ tries again later."""
    target = NotificationTarget.objects.filter(pk=target_id).first()
    deploy = Deploy.objects.select_related("project", "triggered_by").filter(pk=deploy_id).first()
    if target is None or deploy is None:
        return "target or deploy deleted"
    record = NotificationDelivery(target=target, deploy=deploy, event=event)
    record.attempt = (
        NotificationDelivery.objects.filter(target=target, deploy=deploy, event=event).count() + 1
    )
    try:
        record.response_code = SENDERS[target.kind](
            target, message(deploy, event, target.dashboard_url)
        )
        record.status = NotificationDelivery.DELIVERED
    except DeliveryFailed as error:
        record.status, record.error = NotificationDelivery.FAILED, str(error)
        record.response_code = error.response_code
        raise
    finally:
        record.save()
    return record.status
