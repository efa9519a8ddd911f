"""Fixtures that run real herokucd processes (rqworker, the web server) for slow tests."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def process_env(**extra) -> dict:
    """The environment a child herokucd process needs to see the test database and Redis."""
    from django.conf import settings

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "herokucd.settings_test", **extra}
    env["HEROKUCD_DATA_DIR"] = str(settings.DATA_DIR)
    db = connection.settings_dict
    if db["ENGINE"].endswith("postgresql"):
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    else:
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    if not settings.EMBEDDED_REDIS:
        env["REDIS_URL"] = settings.REDIS_URL
    return env


def start(args, **extra_env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=process_env(**extra_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def stop(process: subprocess.Popen, timeout=10) -> str:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    return process.stdout.read() if process.stdout else ""


@pytest.fixture
def rqworker(transactional_db):
    """A real `manage.py rqworker` subprocess on the test database; yields the Popen."""
    # settings.RQ["WORKER_CLASS"] makes it a DeployWorker, as in production.
    process = start(["manage.py", "rqworker", "default", "--with-scheduler"])
    yield process
    stop(process)
