"""Pytest fixtures for the Heroku simulator (loaded through `pytest_plugins`).

`heroku_sim` (function scope) is one simulator process per test session, reset to the
default state before each test, so a test costs a reset, not a start. `start_heroku_sim(state)`
starts a separate simulator with a custom state dict (a context manager; also the
`heroku_sim_factory` fixture, which stops what it started).

Default state: deployer@example.com (`.api_key`), other@example.com (`.other_api_key`),
`foo-bar-123` (owner deployer, web=1 worker=2, heroku-postgresql) and `not-yours-app` (other).
"""

import contextlib
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
HEROKU_CLI = REPO_ROOT / ".tools" / "heroku-cli" / "node_modules" / ".bin" / "heroku"
ACCEPT = "application/vnd.heroku+json; version=3"
APP = "foo-bar-123"
OTHER_APP = "not-yours-app"


def default_state():
    return {
        "accounts": [
            {"email": "deployer@example.com", "api_key": f"HRKU-{uuid.uuid4()}"},
            {"email": "other@example.com", "api_key": f"HRKU-{uuid.uuid4()}"},
        ],
        "apps": [
            {
                "name": APP,
                "owner": "deployer@example.com",
                "formation": {"web": 1, "worker": 2},
                "addons": ["heroku-postgresql"],
            },
            {"name": OTHER_APP, "owner": "other@example.com", "formation": {"web": 1}},
        ],
        "backup_seconds": 0.2,
    }


class HerokuSim:
    """A running simulator process and helpers to drive it."""

    def __init__(self, process, ready_line, state, home):
        fields = dict(part.split("=", 1) for part in ready_line.split()[2:])
        self.process = process
        self.api_url = fields["api"]
        self.git_url = fields["git"]
        self.rendezvous = fields["rendezvous"]
        self.ca_path = fields["ca"]
        self.seed = state
        self.api_key = state["accounts"][0]["api_key"]
        self.other_api_key = state["accounts"][1]["api_key"] if len(state["accounts"]) > 1 else None
        self.home = home
        self.http = requests.Session()

    def url(self, path):
        return self.api_url + path

    def api(self, method, path, key=None, **kwargs):
        """A Platform API call with the default account's key and the v3 Accept header."""
        headers = {"Accept": ACCEPT, "Authorization": f"Bearer {key or self.api_key}"}
        headers.update(kwargs.pop("headers", {}))
        return self.http.request(method, self.url(path), headers=headers, timeout=30, **kwargs)

    def state(self):
        return self.http.get(self.url("/__sim__/state"), timeout=10).json()

    def app_state(self, name=APP):
        return next(a for a in self.state()["apps"] if a["name"] == name)

    def fault(self, route, **spec):
        response = self.http.post(self.url("/__sim__/faults"), json={"route": route, **spec})
        response.raise_for_status()
        return response.json()

    def reset(self):
        self.http.post(self.url("/__sim__/reset"), timeout=10).raise_for_status()

    def cli_env(self, env=None):
        return {
            "PATH": os.environ.get("PATH", ""),
            "HOME": self.home,
            "HEROKU_HOST": self.api_url,
            "HEROKU_API_KEY": self.api_key,
            "HEROKU_DATA_HOST": "127.0.0.1",
            # `run` asks particleboard for delinquency info; keep that call local too
            "HEROKU_PARTICLEBOARD_URL": self.api_url,
            "NODE_EXTRA_CA_CERTS": self.ca_path,
            "HEROKU_SKIP_NEW_VERSION_CHECK": "true",
            "HEROKU_DISABLE_AUTOUPDATE": "1",
            "NO_COLOR": "1",
            "FORCE_COLOR": "0",
            "TERM": "dumb",
            **(env or {}),
        }

    def cli(self, *args, env=None, input=None, timeout=60):
        """Run the official Heroku CLI against this simulator."""
        return subprocess.run(
            [str(HEROKU_CLI), *args],
            env=self.cli_env(env),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.home,
        )

    def stop(self):
        self.http.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.home, ignore_errors=True)


@contextlib.contextmanager
def start_heroku_sim(state=None):
    """Start a simulator subprocess on free ports with `state` (default: default_state())."""
    state = copy.deepcopy(state or default_state())
    home = tempfile.mkdtemp(prefix="heroku-sim-home-")
    state_path = Path(home) / "state.json"
    state_path.write_text(json.dumps(state))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "heroku_simulator",
            "--port",
            "0",
            "--state",
            str(state_path),
            "--data-dir",
            str(Path(home) / "data"),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    if not line.startswith("heroku-sim ready"):
        process.kill()
        raise RuntimeError(f"heroku simulator did not start: {line!r}")
    sim = HerokuSim(process, line, state, home)
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(scope="session")
def heroku_sim_session():
    with start_heroku_sim() as sim:
        yield sim


@pytest.fixture
def heroku_sim(heroku_sim_session):
    heroku_sim_session.reset()
    yield heroku_sim_session


@pytest.fixture
def heroku_sim_factory():
    with contextlib.ExitStack() as stack:
        yield lambda state=None: stack.enter_context(start_heroku_sim(state))
