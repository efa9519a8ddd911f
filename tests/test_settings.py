"""Settings come from the environment: embedded defaults, production refuses missing secrets."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DEBUG": "False",
    "SECRET_KEY": "x" * 60 + "-production-secret-key-for-checks",
    "ALLOWED_HOSTS": "herokucd.example.com",
    "REDIS_URL": "redis://127.0.0.1:6379/9",
}


def run_python(code, tmp_path, **env):
    # A fresh process as a person would start it: none of the suite's own variables
    # (the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for Playwright's event loop).
    unset = {"DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    base = {k: v for k, v in os.environ.items() if k not in unset}
    base.update(HEROKUCD_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="herokucd.settings")
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_manage(args, tmp_path, **env):
    code = f"import sys; sys.argv = ['manage.py', *{args!r}]; import manage; manage.main()"
    return run_python(code, tmp_path, **env)


SHOW = (
    "from django.conf import settings as s; import django; django.setup(); "
    "print(s.DATABASES['default']['ENGINE'], s.REDIS_URL, s.EMBEDDED_REDIS)"
)


def test_it_uses_sqlite_and_embedded_redis_when_nothing_is_set(tmp_path):
    result = run_python(SHOW, tmp_path)
    assert result.returncode == 0, result.stderr
    engine, redis_url, embedded = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert redis_url.startswith("unix://") and embedded == "True"
    assert (tmp_path / "secret_key").read_text().strip()
    assert oct((tmp_path / "field_encryption_keys").stat().st_mode)[-3:] == "600"


def test_migrate_leaves_the_sqlite_file_in_write_ahead_log_mode(tmp_path):
    # So web and worker processes read while one writes; new connections need not set it.
    assert run_manage(["migrate", "-v0"], tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_it_uses_the_servers_given_in_the_environment(tmp_path):
    result = run_python(
        SHOW,
        tmp_path,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/test",
        REDIS_URL="redis://127.0.0.1:6379/3",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "redis://127.0.0.1:6379/3",
        "False",
    ]


def test_production_refuses_a_missing_secret_key_and_says_how_to_make_one(tmp_path):
    env = {**PRODUCTION, "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    del env["SECRET_KEY"]
    result = run_python(SHOW, tmp_path, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set when DEBUG=False" in result.stderr
    assert "secrets.token_urlsafe" in result.stderr


def test_production_refuses_missing_encryption_keys(tmp_path):
    result = run_python(SHOW, tmp_path, **PRODUCTION)
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS must be set when DEBUG=False" in result.stderr
    assert "Fernet.generate_key()" in result.stderr


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {**PRODUCTION, "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    result = run_manage(["check", "--deploy", "--fail-level", "WARNING"], tmp_path, **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_cookies_are_secure_and_host_prefixed(tmp_path):
    env = {**PRODUCTION, "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    code = (
        "from django.conf import settings as s; import django; django.setup(); "
        "print(s.SESSION_COOKIE_NAME, s.CSRF_COOKIE_NAME, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SECURE_HSTS_SECONDS, "
        "s.SECURE_PROXY_SSL_HEADER[0], s.X_FRAME_OPTIONS)"
    )
    result = run_python(code, tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "__Host-sessionid",
        "__Host-csrftoken",
        "True",
        "True",
        "True",
        "31536000",
        "HTTP_X_FORWARDED_PROTO",
        "DENY",
    ]
