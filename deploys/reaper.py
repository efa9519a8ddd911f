"""The stale-deploy reaper: a running deploy whose worker died is cleaned up, then failed.

A running deploy writes `heartbeat_at` every second. When the heartbeat is older than
`stale_seconds()`, its worker is gone (work horse killed, host lost). The reaper:

1. Takes the deploy over with a conditional UPDATE that must change exactly one row
   (`Deploy.take_over`): the deploy becomes the reaper's (`worker_name`, a fresh heartbeat),
   its phase "cleaning up", and its reason says what happened.
   It stays running, so its app stays held (`one_running_deploy_per_app`): the app's next
   deploy cannot start while the dead deploy's changes are still on the app.
2. Undoes what the deploy changed on the app (maintenance mode, scaled-down process types)
   while a heartbeat keeps the claim fresh. A reaper that dies meanwhile leaves a stale
   heartbeat: the next reaper claims the deploy and undoes again (`undo_changes` is safe twice).
3. Fails the deploy (`Deploy.fail_cleaned_up`), naming in the reason what could not be
   undone: this frees the app.
4. Notifies the environment's notification targets of the failure, once, like any other.

Workers run it before claiming a deploy, from a check scheduled for each running deploy, and
at once for the deploy of a work horse they saw die (`fail_dead_worker`); each then hands the
app to its next queued deploy. `manage.py fail_stale_deploys` runs it by hand or from cron.
"""

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from deploys import notifications
from deploys.cleanup import undo_changes
from deploys.heartbeat import Heartbeat, this_worker
from deploys.logwriter import LogWriter
from deploys.models import Deploy, Phase, State
from deploys.pipeline import end_state, reason_for
from herokucd.heroku import HerokuClient

log = logging.getLogger(__name__)
# The reason of a deploy being cleaned up (Phase.CLEANING_UP) ends so; once failed, with FAILED.
CLEANING_UP = "; herokucd is undoing its changes on the app, then fails the deploy."
FAILED = "; herokucd marked the deploy failed."
CLEANING_AGAIN = "The cleanup was cut short (herokucd's process stopped): herokucd cleans up again."


def stale_seconds() -> int:
    """60 s by default: 60 missed heartbeats, never a slow step."""
    return settings.DEPLOY_STALE_SECONDS


def fail_stale_deploys(older_than: int | None = None, app_name: str | None = None) -> list:
    """Clean up and fail every running deploy without a heartbeat for `older_than` seconds."""
    limit = timezone.now() - timedelta(seconds=older_than or stale_seconds())
    stale = Deploy.objects.filter(state=State.RUNNING).filter(
        Q(heartbeat_at__lt=limit) | Q(heartbeat_at__isnull=True, started_at__lt=limit)
    )
    if app_name:
        stale = stale.filter(app_name=app_name)
    return [deploy for deploy in stale if fail_stale(deploy, limit)]


def fail_stale(deploy: Deploy, limit) -> bool:
    """Clean up and fail `deploy` unless it beat since `limit`; whether this call did."""
    still_stale = Q(heartbeat_at__lt=limit) | Q(heartbeat_at__isnull=True)
    if deploy.phase == Phase.CLEANING_UP:  # a reaper died cleaning it up: the cause stands
        cause, again = deploy.reason.removesuffix(CLEANING_UP), True
    else:
        last = deploy.heartbeat_at or deploy.started_at
        cause = (
            "The worker running this deploy stopped responding (last heartbeat at "
            f"{last:%H:%M:%S} UTC)"
        )
        again = False
    return _reap(deploy, still_stale, cause, again)


def fail_dead_worker(deploy_id: int, worker_name: str, how: str) -> Deploy | None:
    """Clean up and fail at once the running deploy claimed by the work horse `worker_name`,
    which its worker saw die (`how`: e.g. "killed by signal 9"). The deploy, if this call did."""
    deploy = Deploy.objects.select_related("project").filter(pk=deploy_id).first()
    if deploy is None:
        return None
    cause = f"The worker process running this deploy died ({how})"
    return deploy if _reap(deploy, Q(worker_name=worker_name), cause) else None


def _reap(deploy: Deploy, still_dead: Q, cause: str, again: bool = False) -> bool:
    """Steps 1-4 of the module's docstring, if the take-over (`still_dead`) wins."""
    me = this_worker()
    if not deploy.take_over(me, cause + CLEANING_UP, still_dead):
        return False  # it came back to life, or another reaper got there first
    deploy.refresh_from_db()
    log.warning("Deploy %s of %s: %s", deploy.number, deploy.app_name, deploy.reason)
    problems = _clean_up_held(deploy, me, again)
    reason = cause + FAILED
    if problems:
        reason += " Cleanup failed: " + "; ".join(problems)
    if not deploy.fail_cleaned_up(me, reason):
        return False  # its own worker came back and ended it (Deploy.finish)
    notifications.deploy_ended(deploy)  # never raises: nothing stops the reaping
    return True


def _clean_up_held(deploy: Deploy, me: str, again: bool) -> list[str]:
    """clean_up() with the claim kept fresh. A crash is one more problem: the deploy is
    failed all the same, not retried for ever by each reaper."""
    heartbeat = Heartbeat(deploy.pk, threading.Event(), worker_name=me)
    heartbeat.start()
    try:
        return clean_up(deploy, again)
    except Exception as error:
        return [reason_for(error)]
    finally:
        heartbeat.stop()


def clean_up(deploy: Deploy, again: bool = False) -> list[str]:
    """Undo the deploy's changes on the app; what could not be undone."""
    writer = LogWriter(deploy)
    try:
        writer.system(CLEANING_AGAIN if again else deploy.reason)
        credential = getattr(deploy.project, "heroku_credential", None)
        if credential is None:
            left = "the project has no Heroku API key left to undo its changes"
            return [left] if deploy.cleanup_state else []
        with HerokuClient(credential.api_key) as client:
            problems = undo_changes(deploy, client, writer) if deploy.cleanup_state else []
            # Where the app is left, for the deploy's page, as a deploy that ended itself says.
            deploy.record(end_state=end_state(client, deploy, _migration(deploy)))
            return problems
    finally:
        writer.close()


def _migration(deploy: Deploy) -> dict:
    """What the reaper knows of the migration: whether it started, not how it ended."""
    environment = deploy.environment
    planned = deploy.ran_migration or bool(environment and environment.migration_command)
    if not deploy.ran_migration:
        return {"planned": planned, "ran": False}
    return {"planned": True, "ran": True, "outcome": "unknown", "error": "the worker died"}
