"""Run the whole dashboard in the foreground: web server, one RQ worker, embedded Redis.

1. Make sure Redis answers (the embedded one is started on demand when REDIS_URL is unset) and
   hold a connection to it, so it stays up while this command runs.
2. Start gunicorn with uvicorn workers (ASGI: a live log stream waits without holding a thread;
   the pages are plain Django views, run in threads) and one RQ worker,
   each in a session of its own and dying with this command (herokucd/supervise.py).
3. Print the URL (and, while no user exists, a setup token for the first administrator), then
   wait. When a child dies, or on Ctrl-C / SIGTERM / SIGHUP, stop every process group that was
   started, then the embedded Redis, and exit.
"""

import os
import sys

import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from herokucd.embedded_redis import NO_RETRY, ensure_running, shutdown
from herokucd.supervise import Children


class Command(BaseCommand):
    help = "Run the web server, an RQ worker and (without REDIS_URL) the embedded Redis."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))

    def handle(self, *args, port, host, **options):
        redis_connection = None
        with Children() as children:
            redis_connection = self._hold_redis()
            children.start(web_command(host, port))
            children.start(worker_command())
            self.stdout.write(f"herokucd is running at http://{host}:{port}/  (Ctrl-C stops it)")
            if not get_user_model().objects.exists():
                call_command("setup_token", url=f"http://{host}:{port}", stdout=self.stdout)
            self.stdout.flush()
            children.wait()
            self.stderr.write("A process stopped unexpectedly; stopping the others.")
        if settings.EMBEDDED_REDIS and redis_connection is not None:
            shutdown(redis_connection)
        self.stdout.write("herokucd stopped.")

    def _hold_redis(self):
        if settings.EMBEDDED_REDIS:
            ensure_running(settings.DATA_DIR)
        connection = redis.Redis.from_url(settings.REDIS_URL, retry=NO_RETRY)
        connection.ping()
        return connection


# The Procfile's web line says the same (README: Performance, the ASGI server).
WEB_WORKERS = ["--worker-class=uvicorn_worker.UvicornWorker", "--workers=2"]


def web_command(host, port):
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "herokucd.asgi:application",
        f"--bind={host}:{port}",
        *WEB_WORKERS,
        "--access-logfile=-",
        "--graceful-timeout=5",
        # Its default control socket is one path per machine user, shared by every server.
        "--no-control-socket",
        f"--chdir={settings.BASE_DIR}",
    ]


def worker_command():
    manage = str(settings.BASE_DIR / "manage.py")
    # It stops its deploy with it, and fails it at once, its changes on the app undone; its work
    # horse and scheduler die with it (see deploys/worker.py).
    worker_class = ["--worker-class", "deploys.worker.ForegroundWorker"]
    return [sys.executable, manage, "rqworker", "default", "--with-scheduler", *worker_class]
