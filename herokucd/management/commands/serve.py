"""Run the whole dashboard in the foreground: web server, one RQ worker, embedded Redis.

1. Make sure Redis answers (the embedded one is started on demand when REDIS_URL is unset) and
   hold a connection to it, so it stays up while this command runs.
2. Start gunicorn (threads, so live log viewers do not starve other requests) and one worker,
   each in its own process group.
3. Print the URL (and, while no user exists, a setup token for the first administrator), then
   wait. When a child dies, or on Ctrl-C / SIGTERM, stop every process group
   that was started, then the embedded Redis, and exit.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time

import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from herokucd.embedded_redis import ensure_running

STOP_TIMEOUT = 10


class Command(BaseCommand):
    help = "Run the web server, an RQ worker and (without REDIS_URL) the embedded Redis."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))

    def handle(self, *args, port, host, **options):
        redis_connection = self._hold_redis()
        children = [self._start(web_command(host, port)), self._start(worker_command())]
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        self.stdout.write(f"herokucd is running at http://{host}:{port}/  (Ctrl-C stops it)")
        if not get_user_model().objects.exists():
            call_command("setup_token", url=f"http://{host}:{port}", stdout=self.stdout)
        self.stdout.flush()
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            self.stderr.write("A process stopped unexpectedly; stopping the others.")
        except KeyboardInterrupt:
            pass
        finally:
            for child in children:
                stop_group(child)
            if settings.EMBEDDED_REDIS:
                shutdown_embedded(redis_connection)
            self.stdout.write("herokucd stopped.")

    def _hold_redis(self):
        if settings.EMBEDDED_REDIS:
            ensure_running(settings.DATA_DIR)
        connection = redis.Redis.from_url(settings.REDIS_URL)
        connection.ping()
        return connection

    def _start(self, command):
        return subprocess.Popen(command, start_new_session=True)


def web_command(host, port):
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "herokucd.wsgi:application",
        f"--bind={host}:{port}",
        "--worker-class=gthread",
        "--workers=2",
        "--threads=8",
        "--access-logfile=-",
        "--graceful-timeout=5",
        # Its default control socket is one path per machine user, shared by every server.
        "--no-control-socket",
        f"--chdir={settings.BASE_DIR}",
    ]


def worker_command():
    manage = str(settings.BASE_DIR / "manage.py")
    # DeployWorker fails a deploy at once when its work horse dies (see deploys/worker.py).
    worker_class = ["--worker-class", "deploys.worker.DeployWorker"]
    return [sys.executable, manage, "rqworker", "default", "--with-scheduler", *worker_class]


def stop_group(child):
    """SIGTERM the child's whole process group, SIGKILL it if it lingers."""
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 2)):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            return
        try:
            child.wait(wait)
            _reap_group(child.pid, wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _reap_group(pgid, wait):
    """Wait until no process is left in the group (gunicorn's workers, RQ's work horse)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise subprocess.TimeoutExpired("process group", wait)


def shutdown_embedded(connection):
    # Shutting down closes the connection it was asked on; gone already is fine too.
    with contextlib.suppress(redis.ConnectionError):
        connection.shutdown(save=True)
