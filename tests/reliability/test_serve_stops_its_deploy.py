"""The worker `manage.py serve` and `manage.py demo` start stops with them, or when they die (its
parent-death signal is SIGTERM): a deploy under way is failed at once, the app restored, and
nothing of it keeps running. A plain `rqworker` (the Procfile's) would finish the deploy first."""

import signal

import psutil
import pytest

from deploys.models import State
from deploys.services import request_deploy
from tests.deploys.test_queue import children, finished, wait_for
from tests.reliability.test_crashes import assert_app_restored, careful, pushing, worker  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_sigterm_to_serves_worker_fails_its_deploy_at_once_and_restores_the_app(
    careful,  # noqa: F811
    worker,  # noqa: F811
    sim,
):
    process = worker()
    sim.fault("GIT /{app}.git", delay=30, count=1)  # a push far longer than the stop may take
    deploy = request_deploy(careful)
    wait_for(lambda: pushing(deploy), 60, "the push")
    deploy.refresh_from_db()
    horse = psutil.Process(int(deploy.worker_name.rpartition(":")[2]))
    assert horse.pid in children(process.pid)

    process.send_signal(signal.SIGTERM)  # what serve's stop, or its death, sends the worker

    process.wait(15)
    finished(deploy, timeout=1)
    assert deploy.state == State.FAILED
    assert "killed by signal 15" in deploy.reason
    assert not horse.is_running()
    assert_app_restored(sim)
