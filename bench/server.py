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
    as a browser does, sends back the cookies the pages set (the CSRF cookie), and asks again on
    a new connection when the server closed the one it kept idle (gunicorn closes a kept-alive
    connection after 2 s without a request: a live-log viewer told to wait 2 s finds it closed).
    """

    # What a request on a connection the server closed meanwhile meets.
    CLOSED = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)

    def __init__(self, port, cookie):
        self.port = port
        self.cookies = SimpleCookie(cookie)
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.kept = False  # the connection served a request and was kept open
        self.headers = None  # the last answer's headers (None after a connection error)

    def get(self, path) -> tuple[int, bytes, float]:
        started = time.perf_counter()
        try:
            response, body = self._ask(path)
        except (OSError, http.client.HTTPException):
            self.headers, self.kept = None, False
            self.connection.close()
            return 0, b"", time.perf_counter() - started
        self.headers = response.headers
        for header in response.headers.get_all("Set-Cookie") or ():
            self.cookies.load(header)
        self.kept = response.getheader("Connection", "").lower() != "close"
        if not self.kept:
            self.connection.close()
        return response.status, body, time.perf_counter() - started

    def _ask(self, path):
        try:
            return self._request(path)
        except self.CLOSED:
            if not self.kept:
                raise  # a new connection failed: an error
            self.connection.close()  # the next request opens a new one
            return self._request(path)

    def _request(self, path):
        cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in self.cookies.items())
        self.connection.request("GET", path, headers={"Cookie": cookie})
        response = self.connection.getresponse()
        return response, response.read()


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
