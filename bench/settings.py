"""Benchmark settings: herokucd's own, served as in production (no DEBUG query log), plus a bare
view (`bench.urls`) that the page benchmark compares herokucd's pages with.

The settings are read with DEBUG on (secrets generated into the benchmark's data folder, static
files from the finders, as `make run` does), then DEBUG is switched off.
"""

import os
import tempfile

os.environ.setdefault("DEBUG", "True")

from herokucd.settings import *  # noqa: F403

DEBUG = False
# The benchmarks make their git repositories in the system's temporary folder.
ALLOWED_LOCAL_REPOSITORY_FOLDERS = [tempfile.gettempdir()]
ROOT_URLCONF = "bench.urls"
# The simulator on 127.0.0.1 serves the Build API's upload and build output URLs.
OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
