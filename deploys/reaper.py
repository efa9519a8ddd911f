"""The stale-deploy reaper: a running deploy whose worker died is failed and cleaned up.

A running deploy writes `heartbeat_at` every second. When the heartbeat is older than
`stale_seconds()`, its worker is gone (work horse killed, host lost): the deploy is failed with
a reason (which releases its app for the next deploy), what it changed on the app is undone,
and then the environment's notification targets hear of the failure like any other.
Workers run it before claiming a deploy and from a check scheduled for each running deploy;
`manage.py fail_stale_deploys` runs it by hand or from cron.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from deploys import notifications
from deploys.logwriter import LogWriter
from deploys.models import Deploy, State
from deploys.pipeline import undo_changes
from herokucd.heroku import HerokuClient

log = logging.getLogger(__name__)


def stale_seconds() -> int:
    """60 s by default: 60 missed heartbeats, never a slow step."""
    return settings.DEPLOY_STALE_SECONDS


def fail_stale_deploys(older_than: int | None = None, app_name: str | None = None) -> list:
    """Fail and clean up every running deploy without a heartbeat for `older_than` seconds."""
    limit = timezone.now() - timedelta(seconds=older_than or stale_seconds())
    stale = Deploy.objects.filter(state=State.RUNNING).filter(
        Q(heartbeat_at__lt=limit) | Q(heartbeat_at__isnull=True, started_at__lt=limit)
    )
    if app_name:
        stale = stale.filter(app_name=app_name)
    return [deploy for deploy in stale if fail_stale(deploy, limit)]


def fail_stale(deploy: Deploy, limit) -> bool:
    last = deploy.heartbeat_at or deploy.started_at
    reason = (
        f"The worker running this deploy stopped responding (last heartbeat at {last:%H:%M:%S} "
        "UTC); herokucd marked the deploy failed."
    )
    claimed = Deploy.objects.filter(pk=deploy.pk, state=State.RUNNING).filter(
        Q(heartbeat_at__lt=limit) | Q(heartbeat_at__isnull=True)
    )
    if not claimed.update(state=State.FAILED, reason=reason, finished_at=timezone.now()):
        return False  # it came back to life, or another reaper got there first
    _after_failing(deploy, reason)
    return True


def fail_dead_worker(deploy_id: int, worker_name: str, how: str) -> Deploy | None:
    """Fail at once the running deploy claimed by the work horse `worker_name`, which its
    worker saw die (`how`: e.g. "killed by signal 9"); undo its changes. The deploy, if failed."""
    reason = (
        f"The worker process running this deploy died ({how}); herokucd marked the deploy failed."
    )
    claimed = Deploy.objects.filter(pk=deploy_id, state=State.RUNNING, worker_name=worker_name)
    if not claimed.update(state=State.FAILED, reason=reason, finished_at=timezone.now()):
        return None  # it never claimed the deploy, or somebody ended it already
    deploy = Deploy.objects.select_related("project").get(pk=deploy_id)
    _after_failing(deploy, reason)
    return deploy


def _after_failing(deploy: Deploy, reason: str) -> None:
    """What only the reaper whose UPDATE claimed the deploy does, so it happens once:

    1. Undo the deploy's changes on the app; name in the reason what could not be undone.
    2. Notify from the row as it now stands (failed, with the whole reason), even when the
       cleanup crashed. Never raises: a notification that cannot be queued (Redis away) must
       not stop the reaping.
    """
    log.warning("Deploy %s of %s: %s", deploy.number, deploy.app_name, reason)
    try:
        problems = clean_up(deploy)
        if problems:
            reason += " Cleanup failed: " + "; ".join(problems)
            Deploy.objects.filter(pk=deploy.pk).update(reason=reason)
    finally:
        deploy.refresh_from_db()
        notify(deploy)


def notify(deploy: Deploy) -> None:
    try:
        notifications.deploy_finished(deploy)
    except Exception:
        log.exception("Could not send the notifications of deploy %s", deploy.pk)


def clean_up(deploy: Deploy) -> list[str]:
    writer = LogWriter(deploy)
    try:
        writer.system("The worker running this deploy died: herokucd failed it and cleans up.")
        if not deploy.cleanup_state:
            return []
        credential = getattr(deploy.project, "heroku_credential", None)
        if credential is None:
            return ["the project has no Heroku API key left to undo its changes"]
        with HerokuClient(credential.api_key) as client:
            return undo_changes(deploy, client, writer)
    finally:
        writer.close()
