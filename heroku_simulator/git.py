"""Git over smart HTTP: `git http-backend` as a CGI per request, Heroku's auth and limits.

Route for faults: "GIT /{app}.git" (every git request to any app). Credentials: HTTP Basic,
any user name, the API key as password (docs/heroku.md §3.3).
"""

import base64
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

GIT_PATH = re.compile(r"^/(?P<app>[a-z][a-z0-9-]*)\.git(?P<rest>/.*)?$")
FAULT_ROUTE = "GIT /{app}.git"
# The hook runs as a module of this package, so it shares the compiler with the Build API.
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
BAD_CREDENTIALS = (
    "! WARNING:\n"
    "! Do not authenticate with username and password using git.\n"
    "! Run `heroku login` to update your credentials, then retry the git command.\n"
    "! See documentation for details: "
    "https://devcenter.heroku.com/articles/git#http-git-authentication\n"
)
TOO_MANY = "!  Too many requests for this Git repo. Please try again later.\n"


class Repos:
    """One bare repository per app under `<data dir>/repos`."""

    def __init__(self, data_dir):
        self.root = Path(data_dir) / "repos"

    def path(self, app_name):
        return self.root / f"{app_name}.git"

    def create_all(self, app_names):
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)
        for name in app_names:
            self.create(name)

    def create(self, app_name):
        path = self.path(app_name)
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
        hook = path / "hooks" / "pre-receive"
        hook.write_text(
            f'#!/bin/sh\nPYTHONPATH="{PACKAGE_ROOT}" exec "{sys.executable}" '
            "-m heroku_simulator.pre_receive_hook\n"
        )
        hook.chmod(0o755)

    def copy_commit(self, source_app, target_app, commit):
        """Give `target_app`'s repository the objects of `commit` from `source_app`'s, as a
        promotion copies the slug (the one-off dynos of the new release run its tree). Fetched
        by ref: a commit the source app never received (a seeded one) is left missing."""
        source = self.path(source_app)
        namespace = f"+refs/heads/*:refs/promoted/{source_app}/*"
        target = ["git", f"--git-dir={self.path(target_app)}"]
        subprocess.run(
            [*target, "fetch", "-q", "--no-tags", str(source), namespace],
            check=False,
            capture_output=True,
        )
        found = subprocess.run(
            [*target, "cat-file", "-e", commit], check=False, capture_output=True
        )
        return found.returncode == 0

    def archive(self, app_name, commit, target):
        """Write the tree of `commit` into `target` (a dyno's checkout of its release)."""
        archive = subprocess.run(
            ["git", f"--git-dir={self.path(app_name)}", "archive", "--format=tar", commit],
            check=True,
            capture_output=True,
        )
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)


def is_git_path(path):
    return GIT_PATH.match(path) is not None


def _password(headers):
    scheme, _, encoded = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(encoded.strip()).decode().partition(":")[2]
    except ValueError:
        return None


def _text(handler, status, text, headers=None):
    handler.send_bytes(status, text.encode(), {"Content-Type": "text/plain", **(headers or {})})


def _refuse(handler, sim, app_name):
    """Return True when the request was answered with an error (fault, auth, access, limit)."""
    fault = sim.faults.take(FAULT_ROUTE)
    if fault and fault["status"]:
        _text(handler, int(fault["status"]), (fault["message"] or "!  Simulated failure.") + "\n")
        return True
    key = _password(handler.headers)
    account = sim.state.account_for_key(key) if key else None
    if account is None:
        _text(handler, 401, BAD_CREDENTIALS, {"WWW-Authenticate": 'Basic realm="Heroku"'})
        return True
    app = sim.state.find_app(app_name)
    if app is None:
        _text(handler, 404, f"!  No such app as {app_name}.\n")
        return True
    if not app.can_access(account):
        _text(handler, 403, f"!  You do not have access to the app {app_name}.\n")
        return True
    if not sim.git_limits.hit((account.id, app.id)):
        _text(handler, 429, TOO_MANY)
        return True
    handler.git_account = account
    return False


def _cgi_env(handler, sim, app_name, rest, query):
    body_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_PROJECT_ROOT": str(sim.repos.root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "REQUEST_METHOD": handler.command,
        "PATH_INFO": f"/{app_name}.git{rest}",
        "QUERY_STRING": query,
        "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
        "REMOTE_USER": handler.git_account.email,
        "REMOTE_ADDR": handler.client_address[0],
        "HEROKU_SIM_CONTROL": sim.api_url,
        "HEROKU_SIM_APP": app_name,
        "HEROKU_SIM_ACCOUNT": handler.git_account.email,
    }
    for header, name in (
        ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
        ("Git-Protocol", "GIT_PROTOCOL"),
    ):
        if handler.headers.get(header):
            body_env[name] = handler.headers[header]
    return body_env


def _parse_cgi(output):
    head, _, body = output.partition(b"\r\n\r\n")
    if not body and b"\n\n" in head:
        head, _, body = output.partition(b"\n\n")
    status, headers = 200, {}
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        elif name:
            headers[name.strip()] = value.strip()
    return status, headers, body


def handle(handler):
    sim = handler.server.sim
    path, _, query = handler.path.partition("?")
    match = GIT_PATH.match(path)
    body = handler.read_body()
    if _refuse(handler, sim, match["app"]):
        return
    env = _cgi_env(handler, sim, match["app"], match["rest"] or "", query)
    env["CONTENT_LENGTH"] = str(len(body))
    result = subprocess.run(["git", "http-backend"], input=body, capture_output=True, env=env)
    status, headers, payload = _parse_cgi(result.stdout)
    handler.send_bytes(status, payload, headers)
