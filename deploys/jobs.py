"""The RQ jobs. Their only argument is a deploy id: the Deploy row is the source of truth.

One running deploy per Heroku app is enforced by the database (the unique constraint
`one_running_deploy_per_app`), not by a lock in a process, so it holds across workers and hosts.
"""

import functools
import logging
import threading
from datetime import timedelta

import django_rq
import redis
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import timezone

from deploys import app_lock, live, mirror, pipeline, reaper
from deploys.heartbeat import this_worker
from deploys.models import Deploy, State

log = logging.getLogger(__name__)
WAIT_SECONDS = 5  # a deploy waiting for its app asks again this often (and on each handoff)
QUEUE = "default"
# What a run reads of a deploy, in one query: its environment, project, key and deploy key.
RUN_WITH = ["environment", "project__heroku_credential", "project__deploy_key"]


def run_deploy(deploy_id: int, waited: bool = False) -> str:
    """Run one deploy, if it is still queued and its app is free.

    0. The project's mirror starts fetching (`mirror.fetch_ahead`), so git works while the
       deploy is claimed and set up; not when the deploy asks again after `waited` for its
       app (it would fetch each time).
    1. Claim, only when the project's key reached the app (deploys/app_lock.py: else the
       deploy fails at once): queued -> running with a conditional UPDATE that must change
       exactly one row; refused while an older (checked) deploy of the app waits, or by the
       database while one runs.
       A duplicate job: nothing to do.
    2. A busy app: fail its stale deploys, so a dead worker cannot hold it forever, and claim
       again; still busy, ask again in WAIT_SECONDS.
    3. Run the pipeline, which ends with cleanup and the deploy's final state (or puts the
       deploy back in the queue until Heroku's git rate limit allows a push).
    4. Hand the app over to its oldest queued deploy.
    5. Read what the deploy left live from Heroku, for the pages (deploys/live.py).
    """
    deploy = Deploy.objects.select_related(*RUN_WITH).filter(pk=deploy_id).first()
    if deploy is None or deploy.state != State.QUEUED:
        return "not queued"
    fetch = None if waited else mirror.fetch_ahead(deploy)
    try:
        return _claim_and_run(deploy, fetch)
    finally:
        if fetch is not None:
            fetch.close()  # not claimed: the fetch ends (a deploy's end stopped it already)


def _claim_and_run(deploy, fetch) -> str:
    refused = app_lock.refusal(deploy)
    if refused is not None:
        # Never ran, held nothing: the app's next deploy goes on.
        app_lock.fail_queued(deploy, f"Not deployed: {refused}")
        hand_over(deploy.app_name)
        return "app not reachable"
    claimed = claim(deploy)
    if claimed is None and reaper.fail_stale_deploys(app_name=deploy.app_name):
        claimed = claim(deploy)
    if claimed is None:
        enqueue(deploy, delay=WAIT_SECONDS, waited=True)
        return "waiting for the app"
    if not claimed:
        return "claimed elsewhere"
    # Queued while the deploy starts: Redis round trips the first step need not wait for.
    description = f"check deploy #{deploy.number} of {deploy.project.slug}"
    check = threading.Thread(
        target=_enqueue_check, args=(deploy.pk, description), name="deploy-check"
    )
    check.start()
    try:
        deferred = pipeline.execute(deploy, fetch)
    finally:
        check.join()
    if deferred is not None:
        # The app's later deploys wait behind this one: the rate limit would stop them too.
        enqueue(deploy, at=deferred.until)
        return "deferred"
    hand_over(deploy.app_name)
    live.after_deploy(deploy)  # what the deploy left live, read from Heroku for the pages
    return "done"


def claim(deploy: Deploy) -> bool | None:
    """True: ours now. False: no longer queued. None: the app is busy (or others wait first)."""
    return deploy.claim(this_worker(), app_lock.same_app_waiting_before())


def hand_over(app_name: str) -> None:
    following = Deploy.objects.filter(app_name=app_name, state=State.QUEUED).order_by("pk")
    following = following.select_related("project", "environment").first()
    if following is not None:
        enqueue(following)


def check_deploy(deploy_id: int) -> str:
    """Scheduled while a deploy runs: fail it if its worker died, else look again later."""
    deploy = Deploy.objects.select_related("project").filter(pk=deploy_id).first()
    if deploy is None or deploy.state != State.RUNNING:
        return "not running"
    if reaper.fail_stale_deploys(app_name=deploy.app_name):
        hand_over(deploy.app_name)
        return "failed as stale"
    enqueue_check(deploy)
    return "alive"


# -- enqueueing -------------------------------------------------------------------------------


def job_timeout(deploy: Deploy) -> int:
    """Long enough for every configured step, so RQ stops only a deploy that hangs."""
    env = deploy.environment
    if env is None:
        return 3600
    steps = env.pre_deploy_timeout + env.post_deploy_timeout + env.migration_timeout
    steps += pipeline.PUSH_TIMEOUT + pipeline.release_phase_timeout()
    return steps + 3600  # the rest: checkout, backup, health checks


def job_options(deploy: Deploy) -> dict:
    return {
        "job_timeout": job_timeout(deploy),
        "description": f"deploy #{deploy.number} of {deploy.project.slug} to {deploy.app_name}",
        "result_ttl": 3600,
        "failure_ttl": 7 * 86400,
    }


@functools.cache
def _connection():
    # One Redis client per process for the deploy queue: django_rq makes a new one, and opens a
    # new connection, on each call. redis-py opens new connections in a forked work horse.
    return django_rq.get_connection(QUEUE)


@receiver(setting_changed)
def _forget_connection(setting, **kwargs):
    if setting == "RQ_QUEUES":  # tests point the queue at another Redis
        _connection.cache_clear()


def get_queue():
    return django_rq.get_queue(QUEUE, connection=_connection())


class QueueUnavailable(Exception):
    """Redis does not answer: a deploy requested now would have no job to run it."""


def check_queue() -> None:
    """Raise QueueUnavailable unless Redis answers, before anything is recorded."""
    try:
        _connection().ping()
    except redis.RedisError as error:
        raise QueueUnavailable(str(error)) from error


def enqueue(deploy: Deploy, delay: float | None = None, at=None, waited=False):
    """Queue `run_deploy(deploy.pk)`, after the current transaction commits."""
    queue = get_queue()
    options = job_options(deploy)
    args = (run_deploy, deploy.pk, waited) if waited else (run_deploy, deploy.pk)
    if at is not None:
        return queue.enqueue_at(at, *args, **options)
    if delay:
        return queue.enqueue_in(timedelta(seconds=delay), *args, **options)
    return queue.enqueue(*args, **options)


def enqueue_check(deploy: Deploy):
    return _enqueue_check(deploy.pk, f"check deploy #{deploy.number} of {deploy.project.slug}")


def _enqueue_check(deploy_id: int, description: str):
    queue = get_queue()
    delay = timedelta(seconds=max(1, reaper.stale_seconds() // 2))
    return queue.enqueue_in(
        delay, check_deploy, deploy_id, job_timeout=600, description=description, result_ttl=600
    )


ORPHAN_AGE_SECONDS = 30  # younger queued deploys may still have their enqueue in flight


def requeue_orphans(min_age: int = ORPHAN_AGE_SECONDS) -> list[Deploy]:
    """Queue again the queued deploys that no job will run (Redis failed after the row was
    committed, or its records were lost); the deploys requeued."""
    queued = Deploy.objects.filter(
        state=State.QUEUED, created_at__lt=timezone.now() - timedelta(seconds=min_age)
    )
    queued = list(queued.select_related("project", "environment").order_by("pk"))
    if not queued:
        return []
    having_a_job = deploys_with_a_job()
    orphans = [deploy for deploy in queued if deploy.pk not in having_a_job]
    for deploy in orphans:
        log.warning("Deploy %s of %s had no job: queued again.", deploy.number, deploy.app_name)
        enqueue(deploy)
    return orphans


def deploys_with_a_job() -> set[int]:
    """Ids of the deploys some `run_deploy` job waits for, is scheduled for, or runs."""
    queue = get_queue()
    job_ids = set(queue.get_job_ids())
    for registry in (queue.scheduled_job_registry, queue.started_job_registry):
        job_ids.update(registry.get_job_ids())
    jobs = queue.job_class.fetch_many(list(job_ids), connection=queue.connection)
    return {
        job.args[0]
        for job in jobs
        if job is not None and job.func_name == f"{__name__}.run_deploy" and job.args
    }
