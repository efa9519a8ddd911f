"""`manage.py demo` (make demo): everything starts offline, the printed key works, Ctrl-C stops
everything. Also the small formatting helpers every deploy page uses."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from deploys.management.commands.demo import demo_key
from deploys.templatetags.deploy_tags import duration
from projects.setup_forms import API_KEY

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(seconds=72), "1m 12s"),
        (8, "8s"),
        (timedelta(hours=2, minutes=5), "2h 5m"),
        (None, ""),
        (timedelta(seconds=-3), "0s"),
    ],
)
def test_durations_read_like_1m_12s(value, text):
    assert duration(value) == text


def test_the_demo_key_is_one_the_wizard_accepts_and_survives_a_restart(tmp_path):
    key = demo_key(tmp_path)
    assert API_KEY.match(key)
    assert demo_key(tmp_path) == key


def test_a_demo_key_the_wizard_would_refuse_is_replaced(tmp_path):
    (tmp_path / "api_key").write_text("HRKU-demo-0123456789abcdef")  # older demos made these
    assert API_KEY.match(demo_key(tmp_path))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_demo_starts_offline_prints_how_to_sign_in_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(HEROKUCD_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="herokucd.settings")
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        output = read_until(demo, "Heroku simulator")
        password = re.search(r"Sign in as\s+demo / (\S+)", output).group(1)
        key = re.search(r"(HRKU-demo-\w+)", output).group(1)
        repository = Path(re.search(r"repository: (\S+)", output).group(1))
        assert (repository / "bin/migrate").exists()
        api = re.search(r"Heroku simulator (\S+)", output).group(1)
        account = requests.get(
            f"{api}/account",
            timeout=5,
            headers={
                "Authorization": f"Bearer {key}",
                "Accept": "application/vnd.heroku+json; version=3",
            },
        )
        assert account.json()["email"] == "demo@example.com"
        assert wait_for_http(f"http://127.0.0.1:{port}/login/") == 200
        assert sign_in(port, password)
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        demo.wait(30)
    assert "Demo stopped." in demo.stdout.read()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/login/", timeout=2)


def read_until(process, marker, timeout=60):
    deadline, output = time.monotonic() + timeout, ""
    while marker not in output and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output += line
    assert marker in output, output
    return output


def wait_for_http(url, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return requests.get(url, timeout=5).status_code
        except (requests.ConnectionError, requests.Timeout):  # not serving yet, or still booting
            time.sleep(0.2)
    return None


def sign_in(port, password):
    session = requests.Session()
    login = f"http://127.0.0.1:{port}/login/"
    session.get(login, timeout=5)
    response = session.post(
        login,
        data={
            "username": "demo",
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": login},
        timeout=5,
    )
    return response.ok and "Sign out" in response.text
