"""The RQ worker herokucd runs (`manage.py rqworker --worker-class deploys.worker.DeployWorker`).

RQ runs each job in a forked work horse and notices at once when the horse dies. Without this
class a killed horse's deploy would only be failed by the stale-deploy reaper, a minute later;
here the worker that saw it die undoes the deploy's changes on the app right away (the app held
meanwhile), fails it, notifies it like any failed deploy and hands the app to its next deploy
(deploys/reaper.py). Its periodic
maintenance also queues again the queued deploys whose job was lost (Redis unreachable when the
deploy was requested), the notifications that could not be queued when a deploy ended and
the log scrubs nothing moved for a while, and expires the deploys waiting for approval past
their deadline (deploys/approvals.py). A log scrub whose horse died is queued again at once:
it resumes after its last chunk done (deploys/scrub.py).
"""

import logging
import os
import signal
import sys

from django.db import connections
from rq.worker import Worker

from deploys import approvals, github, jobs, notifications, ratelimit, reaper, scrub
from deploys.heartbeat import this_worker
from deploys.models import Deploy, DeployStep, State
from herokucd import crypto, supervise

log = logging.getLogger(__name__)
MAINTENANCE_SECONDS = 60  # how soon a deploy whose job was lost is queued again
# A work horse's threads (git's output, the log flusher, the heartbeat, the fetch started while
# the deploy sets up, Heroku calls) mostly wait: one whose wait ended should get going within
# half a millisecond, not after Python's default 5 ms of another thread's work.
HORSE_SWITCH_INTERVAL = 0.0005
RUN_DEPLOY = f"{jobs.__name__}.{jobs.run_deploy.__name__}"


class DeployWorker(Worker):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("maintenance_interval", MAINTENANCE_SECONDS)
        super().__init__(*args, **kwargs)

    def bootstrap(self, *args, **kwargs):
        super().bootstrap(*args, **kwargs)
        try:
            warm_up()
        except Exception:  # only a head start: each work horse still does it on its own
            log.exception("Could not warm up the worker")
        finally:
            connections.close_all()  # never hand an open connection to a forked horse

    @property
    def dequeue_timeout(self) -> int:
        # Wake up at least once per maintenance interval, even when no job comes.
        return min(super().dequeue_timeout, MAINTENANCE_SECONDS)

    def main_work_horse(self, job, queue):
        sys.setswitchinterval(HORSE_SWITCH_INTERVAL)
        super().main_work_horse(job, queue)

    def handle_work_horse_killed(self, job, retpid, ret_val, rusage):
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        if job.func_name == scrub.RUN_SCRUB and job.args:
            resume_scrub(job.args[0])
            return
        if job.func_name != RUN_DEPLOY or not job.args or not retpid:
            return
        try:
            fail_deploy_of_dead_horse(job.args[0], retpid, ret_val)
        except Exception:  # the reaper will fail it from its heartbeat instead
            log.exception("Could not fail deploy %s of a dead work horse", job.args[0])
        finally:
            connections.close_all()  # never hand an open connection to the next forked horse

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        try:
            jobs.requeue_orphans()
            scrub.requeue_stalled()
            notifications.send_pending()
            github.send_missed()
            ratelimit.forget_old()
            approvals.expire_waiting()  # the job scheduled at each deadline, should it be lost
        except Exception:  # maintenance must not stop the worker
            log.exception("Could not queue again the deploys and notifications without a job")
        finally:
            connections.close_all()


class ForegroundWorker(DeployWorker):
    """The worker `manage.py serve` and `manage.py demo` start (herokucd/supervise.py). It belongs
    to them: when they stop, or die (their parent-death signal is SIGTERM), it stops at once
    rather than after the deploy under way, and its work horse and scheduler die with it.

    A stop request SIGTERMs the work horse, so the deploy fails as when a horse dies (its changes
    on the app undone, DeployWorker), and then the worker exits."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        supervise.forks_die_with_this_process()

    def handle_warm_shutdown_request(self):
        super().handle_warm_shutdown_request()
        if self.horse_pid:
            self.kill_horse(signal.SIGTERM)


def warm_up():
    """Do once, before the first fork, what Django and herokucd otherwise do on first use in
    every work horse (a fresh fork forgets it): query compilation caches, model metadata, the
    encryption keys and ciphers. Read-only queries that match nothing."""
    Deploy.objects.select_related(*jobs.RUN_WITH).filter(pk=0).first()
    DeployStep.objects.filter(deploy_id=0).count()
    ratelimit.budget("", "")
    crypto.decrypt(crypto.encrypt("warm up"))


def resume_scrub(scrub_id):
    """A log scrub whose horse died goes on from its last chunk done, in a new horse."""
    try:
        scrub.enqueue(scrub_id)
    except Exception:  # the maintenance queues it again once it is stale
        log.exception("Could not queue log scrub %s again", scrub_id)
    finally:
        connections.close_all()


def fail_deploy_of_dead_horse(deploy_id, horse_pid, status):
    """Clean up and fail the deploy the dead horse ran (its app held meanwhile), then hand
    the app to its next queued deploy."""
    how = describe_exit(status)
    deploy = reaper.fail_dead_worker(deploy_id, this_worker(horse_pid), how)
    # Failed, or still queued because the horse died before claiming it: either way the app's
    # oldest queued deploy needs a job now.
    deploy = deploy or Deploy.objects.filter(pk=deploy_id, state=State.QUEUED).first()
    if deploy is not None:
        jobs.hand_over(deploy.app_name)


def describe_exit(status) -> str:
    if status is not None and os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    if status is not None and os.WIFEXITED(status):
        return f"exited with status {os.WEXITSTATUS(status)}"
    return "it disappeared"
