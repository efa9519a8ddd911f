"""Settings for the test suite: the normal settings, with their own data folder."""

import os
from pathlib import Path

os.environ.setdefault(
    "HEROKUCD_DATA_DIR", str(Path(__file__).resolve().parent.parent / ".data" / "test")
)

from herokucd.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
AXES_ENABLED = True
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
