"""The data folder kept private, and the development secrets made once in it (never used with
DEBUG=False)."""

import contextlib
import os
import secrets
import stat
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet


def make_private(data_dir: Path):
    """Create the data folder 0700 and make this process create every file private.

    A umask of 077, rather than a chmod after the fact, covers what other programs create
    for us too: SQLite's database and its WAL and SHM files, redis-server's dump, git's
    mirrors and checkouts, gunicorn's and the workers' files; children inherit it. A folder
    left open by an older install (group or other bits on the folder itself) is closed, and
    everything under it with it: a private folder's contents are out of others' reach anyway.
    """
    os.umask(0o077)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if data_dir.stat().st_mode & 0o077:
        for path in [data_dir, *data_dir.rglob("*")]:
            _drop_group_and_other(path)


def _drop_group_and_other(path: Path):
    # Symbolic links have no mode of their own; chmod would change what they point to.
    with contextlib.suppress(FileNotFoundError):  # a file another process just removed
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & 0o077:
            path.chmod(stat.S_IMODE(mode) & 0o700)


def new_secret_key():
    return secrets.token_urlsafe(50)


def new_fernet_key():
    return Fernet.generate_key().decode()


def local_secret(path: Path, make) -> str:
    """Read the secret at `path`, creating it (mode 0600) first when it does not exist.

    The new value is written to a temporary file and linked into place, so processes starting
    together all end up reading the same complete value.
    """
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret-")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(make())
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return path.read_text().strip()
