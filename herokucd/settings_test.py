"""Settings for the test suite: the normal settings, with a data folder and test database of
this test run's own, so two runs in one checkout (or a run beside `make run`) never collide."""

import os
import tempfile
from pathlib import Path

RUN_DIR = Path(__file__).resolve().parent.parent / ".data" / "test" / f"run-{os.getpid()}"
# Child processes that tests start (workers, servers) are handed the parent's folder explicitly.
os.environ.setdefault("HEROKUCD_DATA_DIR", str(RUN_DIR))

from herokucd.settings import *  # noqa: E402,F403
from herokucd.settings import DATABASES, STORAGES  # noqa: E402

# Tests make their git repositories in the system's temporary folder.
ALLOWED_LOCAL_REPOSITORY_FOLDERS = [tempfile.gettempdir()]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
# The Heroku simulator and the tests' own servers listen on loopback: let health checks and
# notifications reach them (tests of the refusal override this).
OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
# No test reaches the real GitHub: tests that need it start the GitHub simulator; elsewhere a
# call meets a closed port at once.
GITHUB_API_URL = "http://127.0.0.1:9"
