"""`make run` and `make demo` leave no process behind: Ctrl-C (once or twice) and SIGTERM stop
every process they started, a deploy's work horse included, and free the port; when `serve` or
`demo` is killed outright, what it started exits by itself. Real processes, as a user runs them.

Each test keeps a job running in the RQ worker's work horse (a 2-minute sleep), so the horse and
the worker's scheduler are in the recorded process tree too.
"""

import contextlib
import os
import signal
import socket
import subprocess
import time

import psutil
import pytest
import redis
from rq import Queue

from herokucd.embedded_redis import IDLE_SECONDS, socket_path
from tests.processes import ROOT
from tests.test_make_run import free_port, processes_using, wait_for_page

pytestmark = pytest.mark.slow

STOPPED_WITHIN = 15  # seconds: gunicorn's graceful timeout is 5, the worker's stop is quick
# Killed without cleaning up, serve leaves the embedded Redis to stop by itself once idle.
REDIS_STOPS_WITHIN = IDLE_SECONDS + 10


class Foreground:
    """`make TARGET PORT=port` in a session of its own, as a terminal runs it."""

    def __init__(self, target, tmp_path):
        self.port = free_port()
        self.data_dir = tmp_path / "data"
        self.recorded: list[psutil.Process] = []
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        env.pop("PORT", None)
        env["HEROKUCD_DATA_DIR"] = str(self.data_dir)
        # A file, not a pipe: reading it never waits for a process left behind.
        self.log = tmp_path / f"make-{target}.log"
        with open(self.log, "w") as log:
            self.make = subprocess.Popen(
                ["make", target, f"PORT={self.port}"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def command(self) -> psutil.Process:
        """The `manage.py serve` / `manage.py demo` process make runs."""
        return psutil.Process(self.make.pid).children()[0]

    def wait_until_serving(self):
        assert wait_for_page(f"{self.url}/login/", timeout=90).status_code == 200

    def run_a_long_job(self):
        """A job in the worker's work horse; returns once the horse runs it."""
        connection = redis.Redis(unix_socket_path=str(socket_path(self.data_dir)))
        job = Queue("default", connection=connection).enqueue("time.sleep", 120)
        deadline = time.monotonic() + 30
        while job.get_status(refresh=True) != "started":
            assert time.monotonic() < deadline, "the worker did not start the job"
            time.sleep(0.2)
        connection.close()

    def tree(self) -> list[psutil.Process]:
        """Every process it started, grandchildren included, and the embedded Redis."""
        started = psutil.Process(self.make.pid).children(recursive=True)
        self.recorded = started + [p for p in self.embedded_redis() if p not in started]
        return self.recorded

    def embedded_redis(self) -> list[psutil.Process]:
        """Its keeper and redis-server, which no process of make's tree may have started."""
        return [
            p
            for p in processes_using(self.data_dir)
            if {"herokucd.embedded_redis", "redis-server"} & {*p.cmdline(), p.name()}
        ]

    def output(self) -> str:
        return self.log.read_text()


@pytest.fixture
def foreground(tmp_path):
    started = []

    def start(target):
        started.append(Foreground(target, tmp_path))
        return started[-1]

    yield start
    for process in started:
        if process.make.poll() is None:
            os.killpg(process.make.pid, signal.SIGKILL)
        for leftover in alive(process.recorded + process.embedded_redis()):
            leftover.kill()


def alive(processes):
    living = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                living.append(process)
    return living


def assert_all_gone(processes, within):
    psutil.wait_procs(processes, timeout=within)
    left = alive(processes)
    assert left == [], f"still running: {[' '.join(p.cmdline())[:100] for p in left]}"


def assert_port_free(port):
    with socket.socket() as sock:
        # Connections closed a moment ago may linger in TIME_WAIT; a listener may not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


def horses_of(tree):
    """The RQ worker's children: its scheduler and the work horse running the job."""
    workers = [p for p in tree if "rqworker" in p.cmdline() and "rqworker" not in parent_args(p)]
    return [child for worker in workers for child in worker.children()]


def parent_args(process):
    return process.parent().cmdline() if process.parent() else []


def test_ctrl_c_to_make_run_stops_every_process_it_started(foreground):
    run = foreground("run")
    run.wait_until_serving()
    run.run_a_long_job()
    tree = run.tree()
    assert len(horses_of(tree)) == 2  # the scheduler and the horse running the job

    os.killpg(run.make.pid, signal.SIGINT)  # what Ctrl-C in the terminal does

    assert_all_gone(tree, STOPPED_WITHIN)
    assert_port_free(run.port)
    assert "herokucd stopped." in run.output()


def test_sigterm_to_make_run_stops_every_process_it_started(foreground):
    run = foreground("run")
    run.wait_until_serving()
    run.run_a_long_job()
    tree = run.tree()

    run.make.send_signal(signal.SIGTERM)

    assert_all_gone(tree, STOPPED_WITHIN)
    assert_port_free(run.port)


def test_what_serve_started_exits_by_itself_when_serve_is_killed(foreground):
    run = foreground("run")
    run.wait_until_serving()
    run.run_a_long_job()
    serve = run.command()
    assert "serve" in serve.cmdline()
    tree = run.tree()
    redis_processes = run.embedded_redis()
    assert len(redis_processes) == 2, "the embedded Redis and its keeper are running"

    serve.kill()

    assert_all_gone([p for p in tree if p not in redis_processes], STOPPED_WITHIN)
    assert_port_free(run.port)
    assert_all_gone(redis_processes, REDIS_STOPS_WITHIN)


def test_make_demo_serves_on_the_port_it_is_given(foreground):
    demo = foreground("demo")
    demo.wait_until_serving()
    demo.make.send_signal(signal.SIGTERM)
    demo.make.wait(STOPPED_WITHIN)
    assert f"herokucd demo is running at {demo.url}/" in demo.output()


def test_pressing_ctrl_c_twice_in_make_demo_still_stops_everything(foreground):
    demo = foreground("demo")
    demo.wait_until_serving()
    demo.run_a_long_job()
    tree = demo.tree()
    assert any("heroku_simulator" in p.cmdline() for p in tree)

    os.killpg(demo.make.pid, signal.SIGINT)
    time.sleep(0.5)  # impatient: again while it stops
    os.killpg(demo.make.pid, signal.SIGINT)

    assert_all_gone(tree, STOPPED_WITHIN)
    assert_port_free(demo.port)
    assert "Demo stopped." in demo.output()


def test_sigterm_to_manage_py_demo_stops_every_process_it_started(foreground):
    demo = foreground("demo")
    demo.wait_until_serving()
    demo.run_a_long_job()
    tree = demo.tree()

    demo.command().terminate()

    assert_all_gone(tree, STOPPED_WITHIN)
    assert_port_free(demo.port)


def test_what_demo_started_exits_by_itself_when_demo_is_killed(foreground):
    demo = foreground("demo")
    demo.wait_until_serving()
    demo.run_a_long_job()
    command = demo.command()
    assert "demo" in command.cmdline()
    tree = demo.tree()
    redis_processes = demo.embedded_redis()
    assert len(redis_processes) == 2, "the embedded Redis and its keeper are running"

    command.kill()

    assert_all_gone([p for p in tree if p not in redis_processes], STOPPED_WITHIN)
    assert_port_free(demo.port)
    assert_all_gone(redis_processes, REDIS_STOPS_WITHIN)
