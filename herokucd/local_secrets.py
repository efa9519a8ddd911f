"""Development secrets made once and kept in the data folder (never used with DEBUG=False)."""

import os
import secrets
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet


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
