"""`make run` on a fresh data folder: serves the sign-in page, and SIGTERM stops everything."""

import os
import signal
import socket
import subprocess
import time

import psutil
import pytest
import requests

from tests.processes import ROOT

pytestmark = pytest.mark.slow


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_page(url, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return requests.get(url, timeout=15)
        # Not listening yet, or (on a busy machine) still loading the application.
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@pytest.fixture
def make_run(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(PORT=str(port), HEROKUCD_DATA_DIR=str(tmp_path / "data"))
    env.pop("DJANGO_SETTINGS_MODULE", None)
    process = subprocess.Popen(
        ["make", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    yield process, f"http://127.0.0.1:{port}", tmp_path / "data"
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)


def processes_using(data_dir):
    """Every process whose command line names the data folder or was started by make run."""
    found = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        try:
            if str(data_dir) in " ".join(proc.info["cmdline"] or []) or (
                (proc.info["environ"] or {}).get("HEROKUCD_DATA_DIR") == str(data_dir)
            ):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_make_run_serves_the_dashboard_and_sigterm_leaves_nothing_behind(make_run):
    process, url, data_dir = make_run
    page = wait_for_page(f"{url}/login/", timeout=60)
    assert page.status_code == 200
    # A fresh install leads to creating the first administrator.
    assert "Create the first administrator" in page.text
    assert requests.get(f"{url}/static/css/app.css", timeout=5).status_code == 200
    children = psutil.Process(process.pid).children(recursive=True)
    assert len(children) >= 3  # serve, gunicorn (and its workers), rqworker

    os.kill(process.pid, signal.SIGTERM)
    process.wait(timeout=30)
    # It printed the one-time token that the first administrator's page asks for.
    output = process.stdout.read()
    assert f"Create one at {url}/setup/first-admin/" in output
    assert "with this one-time setup token:" in output
    psutil.wait_procs(children, timeout=15)
    assert [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    deadline = time.monotonic() + 15
    while processes_using(data_dir) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert processes_using(data_dir) == [], "the embedded Redis outlived make run"
