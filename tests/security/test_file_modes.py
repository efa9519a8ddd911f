"""The data folder is private: real herokucd processes (serve: gunicorn, an RQ worker, the
embedded Redis; migrate; git started by herokucd) on a fresh folder and on one an older install
left readable to everyone leave no group or other permission bit on anything in it."""

import os
import signal
import stat
import subprocess
import sys

import psutil
import pytest

from herokucd.embedded_redis import socket_path
from tests.processes import ROOT
from tests.test_make_run import free_port, processes_using, wait_for_page

pytestmark = pytest.mark.slow


def herokucd_env(data_dir, port=0) -> dict:
    """A fresh install's environment: its own SQLite database and embedded Redis."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    return {**env, "HEROKUCD_DATA_DIR": str(data_dir), "PORT": str(port)}


def manage(data_dir, *args):
    command = [sys.executable, "manage.py", *args]
    return subprocess.run(command, cwd=ROOT, env=herokucd_env(data_dir), check=True, timeout=120)


def not_private(data_dir) -> list[str]:
    """Everything under `data_dir` (itself included) that its group or others may use. A file
    gone between the listing and its look (a process leaving the embedded Redis's users) is
    skipped."""
    found = []
    for path in [data_dir, *data_dir.rglob("*")]:
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            continue
        if not stat.S_ISLNK(mode) and mode & 0o077:
            found.append(f"{path} {stat.filemode(mode)}")
    return found


def open_like_an_older_install(data_dir, git_repo):
    """A data folder made before it was kept private: everything 0755 / 0644."""
    manage(data_dir, "migrate", "--no-input", "-v0")
    clone_mirror(data_dir, git_repo)
    (data_dir / "notes.txt").write_text("left by an older version")
    for path in [data_dir, *data_dir.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    assert len(not_private(data_dir)) > 10


def clone_mirror(data_dir, git_repo, project_id=1):
    """git run by a herokucd process, as the pipeline clones a project's mirror."""
    code = (
        "import subprocess; from deploys.mirror import mirror_path; "
        f"subprocess.run(['git', 'clone', '-q', '--mirror', {str(git_repo.path)!r}, "
        f"str(mirror_path({project_id}))], check=True)"
    )
    manage(data_dir, "shell", "-c", code)


def serve(data_dir):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve"],
        cwd=ROOT,
        env=herokucd_env(data_dir, port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return process, f"http://127.0.0.1:{port}"


def stop_serve(process, data_dir):
    children = psutil.Process(process.pid).children(recursive=True)
    os.kill(process.pid, signal.SIGTERM)
    process.wait(timeout=30)
    psutil.wait_procs(children, timeout=15)
    psutil.wait_procs(processes_using(data_dir), timeout=20)  # the embedded Redis keeper


@pytest.mark.parametrize("older_install", [False, True], ids=["fresh", "older-install"])
def test_no_file_of_the_data_folder_is_open_to_group_or_others(tmp_path, git_repo, older_install):
    data_dir = tmp_path / "data"
    if older_install:
        open_like_an_older_install(data_dir, git_repo)
    manage(data_dir, "migrate", "--no-input", "-v0")
    process, url = serve(data_dir)
    try:
        assert wait_for_page(f"{url}/login/", timeout=60).status_code == 200
        clone_mirror(data_dir, git_repo, project_id=2)
        names = {path.name for path in data_dir.rglob("*")}
        assert {"db.sqlite3", "db.sqlite3-wal", "secret_key", "field_encryption_keys"} <= names
        assert {"2.git", "redis.conf"} <= names
        sock = socket_path(data_dir)
        assert stat.S_ISSOCK(sock.stat().st_mode) and not sock.stat().st_mode & 0o077
        assert not_private(data_dir) == []
    finally:
        stop_serve(process, data_dir)
    assert (data_dir / "redis.rdb").exists()  # written by redis-server as it stopped
    assert not_private(data_dir) == []
