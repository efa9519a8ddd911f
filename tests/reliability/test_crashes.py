"""Crashes the engine's own tests (tests/deploys/test_queue.py) do not cover: a work horse killed
mid-push (the app restored, the commit pushed exactly once), how soon a killed work horse's
deploy is failed with the default settings, and a whole worker killed and replaced by a new one
that reaps the dead deploy by itself (no `fail_stale_deploys` by hand), and a reaper killed
while it cleans up a dead deploy (the next reaper finishes the job). Either way the dead deploy
is notified like any failed deploy, once, to whoever wants failures.
"""

import json
import os
import signal
import socket
import time

import django_rq
import pytest
from django.core import mail
from rq import SimpleWorker

from deploys import reaper
from deploys.logformat import read_lines
from deploys.models import State
from deploys.services import request_deploy
from deploys.trigger_models import NotificationDelivery, NotificationTarget
from projects.models import MaintenanceMode
from tests.deploys.conftest import sim_env
from tests.deploys.test_queue import WORKER_ARGS, children, empty_queue, finished, wait_for
from tests.deploys.test_reaper import running_since, subscribe
from tests.heroku_sim.fixtures import APP
from tests.processes import start, stop
from tests.triggers.test_notifications import receiver  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(sim, redis_up):
    """worker(stale_seconds=None) starts a real rqworker pointed at the simulator."""
    started = []
    empty_queue()

    def start_worker(stale_seconds=None):
        release_scheduler_lock()
        extra = {"DEPLOY_STALE_SECONDS": str(stale_seconds)} if stale_seconds else {}
        process = start(WORKER_ARGS, **sim_env(sim, **extra))
        started.append(process)
        time.sleep(1)  # registered and listening before a deploy is queued
        return process

    yield start_worker
    for process in started:
        stop(process)


@pytest.fixture
def careful(environment, git_repo):
    environment.maintenance_mode = MaintenanceMode.DEPLOY
    environment.scale_down_types = "worker"
    environment.save()
    return environment


def release_scheduler_lock():
    """A SIGKILLed worker keeps RQ's scheduler lock for 61 s: past that the next worker takes it
    over by itself; a test cannot wait that long, so it lets go of the lock for the dead one."""
    django_rq.get_connection("default").delete("rq:scheduler-lock:default")


def kill_work_horse(worker_process, deploy):
    """SIGKILL the work horse that claimed `deploy` (the worker's other child is RQ's
    scheduler)."""
    deploy.refresh_from_db()
    horse = int(deploy.worker_name.rpartition(":")[2])
    assert horse in children(worker_process.pid)
    os.kill(horse, signal.SIGKILL)
    return time.monotonic()


def hook(environment, server, **wants):
    """A webhook target on the real receiver `server` (failures and recoveries by default)."""
    return NotificationTarget.objects.create(
        environment=environment, kind="webhook", address=server.url, secret="whsec", **wants
    )


def notified(server, count, target):
    """What `server` received once the worker delivered `count` messages to `target`."""
    delivered = NotificationDelivery.objects.filter(target=target, status="delivered")
    wait_for(lambda: delivered.count() >= count, 30, f"{count} notification(s)")
    return [json.loads(body) for _headers, body in server.received]


def pushing(deploy):
    return deploy.steps.filter(name="push", state="running").exists()


def assert_app_restored(sim):
    app = sim.app_state()
    assert app["maintenance"] is False
    assert {k: v["quantity"] for k, v in app["formation"].items()} == {"web": 1, "worker": 2}


def test_a_work_horse_killed_mid_push_fails_the_deploy_restores_the_app_and_pushes_once(
    careful,
    worker,
    sim,
    git_repo,
    receiver,  # noqa: F811
):
    failures, successes = receiver(), receiver()
    to_failures = hook(careful, failures, on_recovered=False)
    to_successes = hook(careful, successes, on_failed=False, on_succeeded=True)
    process = worker(stale_seconds=3)
    sim.fault("GIT /{app}.git", delay=4, count=1)  # the push is in flight when the horse dies
    deploy = request_deploy(careful)
    wait_for(lambda: pushing(deploy), 60, "the push")
    time.sleep(0.5)
    kill_work_horse(process, deploy)
    finished(deploy, timeout=30)
    assert deploy.state == State.FAILED
    assert "died (killed by signal 9)" in deploy.reason
    time.sleep(5)  # past the delayed git request: whatever it was going to push has landed
    assert_app_restored(sim)
    assert len(sim.app_state()["pushes"]) <= 1, "the dead deploy's push must not be repeated"
    following = finished(request_deploy(careful), timeout=60)
    assert following.state == State.SUCCEEDED, following.reason
    pushed = [p["sha"] for p in sim.app_state()["pushes"]]
    assert pushed.count(following.sha) >= 1
    # The worker notified the dead deploy (before it ran the next one): once, with how it died.
    (failed,) = notified(failures, 1, to_failures)
    assert (failed["event"], failed["deploy"]) == ("failed", deploy.number)
    assert "died (killed by signal 9)" in failed["reason"]
    (recovered,) = notified(successes, 1, to_successes)
    assert (recovered["event"], recovered["deploy"]) == ("recovered", following.number)


def test_a_killed_work_horse_fails_its_deploy_within_5_seconds_with_default_settings(
    careful, worker, sim
):
    process = worker()
    sim.fault("GIT /{app}.git", delay=10, count=1)
    deploy = request_deploy(careful)
    wait_for(lambda: pushing(deploy), 60, "the push")
    killed_at = kill_work_horse(process, deploy)
    finished(deploy, timeout=6)
    assert time.monotonic() - killed_at <= 5
    assert deploy.state == State.FAILED


def test_a_killed_worker_is_replaced_and_the_new_worker_fails_the_dead_deploy_and_runs_the_next(
    careful,
    worker,
    sim,
    receiver,  # noqa: F811
):
    failures = receiver()
    to_failures = hook(careful, failures, on_recovered=False)
    stale = 5
    first = worker(stale_seconds=stale)
    sim.fault("GIT /{app}.git", delay=30, count=1)
    deploy = request_deploy(careful)
    wait_for(lambda: pushing(deploy), 60, "the push")
    # RQ puts its work horse in a session of its own: a dead host takes both, so kill both.
    for horse in children(first.pid):
        os.kill(horse, signal.SIGKILL)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    killed_at = time.monotonic()
    following = request_deploy(careful)
    worker(stale_seconds=stale)
    finished(deploy, timeout=120)
    assert time.monotonic() - killed_at <= 120
    assert deploy.state == State.FAILED
    assert "stopped responding" in deploy.reason
    assert finished(following, timeout=60).state == State.SUCCEEDED, following.reason
    assert_app_restored(sim)
    (failed,) = notified(failures, 1, to_failures)
    assert (failed["event"], failed["deploy"]) == ("failed", deploy.number)
    assert "stopped responding" in failed["reason"]


def test_a_reaper_killed_mid_cleanup_leaves_the_deploy_held_for_the_next_reaper(
    careful, sim, queue
):
    subscribe(careful, "failures@example.com")
    # What the dead deploy changed: maintenance on, workers at zero.
    sim.api("PATCH", f"/apps/{APP}", json={"maintenance": True}).raise_for_status()
    sim.api(
        "PATCH", f"/apps/{APP}/formation", json={"updates": [{"type": "worker", "quantity": 0}]}
    ).raise_for_status()
    deploy = running_since(
        careful, 120, cleanup_state={"maintenance": True, "formation": {"worker": 2}}
    )
    last_heartbeat = deploy.heartbeat_at
    queue.empty()
    # The first reaper scales back, then hangs switching maintenance off, and is killed.
    sim.fault("PATCH /apps/{app}", delay=10, status=503, count=1)
    first = start(["manage.py", "fail_stale_deploys"], **sim_env(sim))
    first_name = f"{socket.gethostname()}:{first.pid}"
    wait_for(lambda: app_workers(sim) == 2, 60, "the first reaper to scale back")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()

    deploy.refresh_from_db()
    assert (deploy.state, deploy.worker_name) == (State.RUNNING, first_name)
    assert "herokucd is undoing its changes on the app" in deploy.reason
    assert sim.app_state()["maintenance"] is True
    # Its heartbeat goes stale: the next reaper claims the deploy, cleans up and fails it.
    reaped = wait_for(lambda: reaper.fail_stale_deploys(older_than=2), 60, "the next reaper")
    assert reaped == [deploy]
    deploy.refresh_from_db()
    assert deploy.state == State.FAILED
    # The reason is the first reaper's, about the deploy's own worker.
    assert deploy.reason == (
        "The worker running this deploy stopped responding (last heartbeat at "
        f"{last_heartbeat:%H:%M:%S} UTC); herokucd marked the deploy failed."
    )
    assert deploy.cleanup_state == {}
    assert_app_restored(sim)
    texts = [line.text for line in read_lines(deploy)]
    assert reaper.CLEANING_AGAIN in texts
    assert "Maintenance mode off." in texts
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    (email,) = mail.outbox  # the killed reaper sent nothing: the failure is told once
    assert email.to == ["failures@example.com"]


def app_workers(sim):
    return sim.app_state()["formation"]["worker"]["quantity"]
