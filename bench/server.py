"""gunicorn serving herokucd on 127.0.0.1 as the Procfile does (gthread), and a load generator
that keeps persistent connections signed in as one user."""

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.cookies import SimpleCookie

from bench.common import ROOT


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def gunicorn(workers=2, threads=8):
    """Yield the port of a running gunicorn (the Procfile's worker class and counts)."""
    port = free_port()
    process = subprocess.Popen(
        [
            os.path.join(os.path.dirname(sys.executable), "gunicorn"),
            "herokucd.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            "--worker-class=gthread",
            f"--workers={workers}",
            f"--threads={threads}",
            "--log-level=warning",
        ],
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        wait_until_serving(port)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)


@contextlib.contextmanager
def asgi(env=None):
    """Yield the (port, process) of the web process as the Procfile runs it: gunicorn with
    uvicorn workers (ASGI); `env` adds settings from the environment."""
    from herokucd.management.commands.serve import WEB_WORKERS

    port = free_port()
    process = subprocess.Popen(
        [
            os.path.join(os.path.dirname(sys.executable), "gunicorn"),
            "herokucd.asgi:application",
            f"--bind=127.0.0.1:{port}",
            *WEB_WORKERS,
            "--log-level=warning",
            "--graceful-timeout=2",
            "--no-control-socket",
        ],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    try:
        wait_until_serving(port)
        yield port, process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)


def wait_until_serving(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        time.sleep(0.1)
    raise RuntimeError("gunicorn did not start")


def session_cookie(username) -> str:
    """A session cookie for `username`, made by Django's test client (no sign-in throttling)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(
        get_user_model().objects.get(username=username),
        backend="projects.backends.ModelBackend",
    )
    return f"sessionid={client.cookies['sessionid'].value}"


class Browser:
    """One simulated user: a keep-alive connection that GETs paths with its session cookie and,
    as a browser does, sends back the cookies the pages set (the CSRF cookie)."""

    def __init__(self, port, cookie):
        self.port = port
        self.cookies = SimpleCookie(cookie)
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path) -> tuple[int, bytes, float]:
        started = time.perf_counter()
        cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in self.cookies.items())
        try:
            self.connection.request("GET", path, headers={"Cookie": cookie})
            response = self.connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            return 0, b"", time.perf_counter() - started
        for header in response.headers.get_all("Set-Cookie") or ():
            self.cookies.load(header)
        if response.getheader("Connection", "").lower() == "close":
            self.connection.close()
        return response.status, body, time.perf_counter() - started


def requests_per_second(port, cookie, path, seconds=4.0, users=8) -> tuple[float, int]:
    """(requests per second, errors) of `users` threads GETting `path` for `seconds`."""
    done, errors = [0], [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def user():
        browser = Browser(port, cookie)
        while time.monotonic() < deadline:
            status, _, _ = browser.get(path)
            with lock:
                done[0] += 1
                errors[0] += status != 200

    threads = [threading.Thread(target=user) for _ in range(users)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done[0] / (time.monotonic() - started), errors[0]
