"""The embedded Redis is shared by the processes of one checkout and runs real RQ jobs."""

import subprocess
import sys
import time

import django_rq
import psutil
import pytest
import redis

from herokucd.embedded_redis import ensure_running, socket_path
from tests.processes import ROOT, process_env

pytestmark = pytest.mark.slow


START_AND_SHOW_PID = (
    "from herokucd.embedded_redis import ensure_running; import sys, redis; "
    "s = ensure_running(sys.argv[1]); "
    "print(redis.Redis(unix_socket_path=str(s)).info()['process_id'])"
)


def read_in_other_process(key, **env):
    code = (
        "import django; django.setup(); import django_rq; "
        f"print(django_rq.get_connection().get({key!r}).decode())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=process_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_web_process_and_a_worker_process_reach_the_same_redis(db):
    django_rq.get_connection().set("herokucd:test:shared", "from the test process")
    assert read_in_other_process("herokucd:test:shared") == "from the test process"


def test_an_enqueued_job_is_run_by_a_real_rqworker(rqworker, tmp_path):
    marker = tmp_path / "marker.txt"
    django_rq.get_queue("default").enqueue("tests.jobs.write_marker", str(marker), "ran")
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.read_text() == "ran"


def test_the_embedded_redis_starts_on_demand_and_stops_when_unused(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", START_AND_SHOW_PID, str(data_dir)],
        cwd=ROOT,
        env={**process_env(), "HEROKUCD_EMBEDDED_REDIS_IDLE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    redis_pid = int(result.stdout)
    assert psutil.pid_exists(redis_pid)
    deadline = time.monotonic() + 20
    while psutil.pid_exists(redis_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not psutil.pid_exists(redis_pid), "the embedded Redis kept running with no client"
    assert not socket_path(data_dir).exists()


def test_two_processes_starting_together_share_one_server(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", START_AND_SHOW_PID, str(data_dir)],
            cwd=ROOT,
            env=process_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    pids = {starter.communicate(timeout=60)[0].strip() for starter in starters}
    assert len(pids) == 1
    redis.Redis(unix_socket_path=str(ensure_running(data_dir))).shutdown(nosave=True)


def test_a_process_that_started_it_keeps_it_running_while_idle(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", START_AND_SHOW_PID + "; import time; time.sleep(4)", str(data_dir)],
        cwd=ROOT,
        env={**process_env(), "HEROKUCD_EMBEDDED_REDIS_IDLE": "1"},
        stdout=subprocess.PIPE,
        text=True,
    )
    redis_pid = int(holder.stdout.readline())
    time.sleep(3)  # three times the idle time, with no client connected
    assert psutil.pid_exists(redis_pid), "stopped while the process that uses it was alive"
    holder.wait(timeout=30)
    deadline = time.monotonic() + 20
    while psutil.pid_exists(redis_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not psutil.pid_exists(redis_pid)
