"""The GitHub REST API calls herokucd makes: who a token belongs to, and deployments with their
statuses (deploys/github.py says when). Every call goes through herokucd/http.py's policy, to
GITHUB_API_URL (https://api.github.com, or a GitHub Enterprise Server's /api/v3).

Errors carry GitHub's own message, never the token.
"""

import json
import re
from urllib.parse import quote, urlsplit

from django.conf import settings

from herokucd import http

TIMEOUT_SECONDS = 10
MAX_BYTES = 200_000
API_VERSION = "2022-11-28"
# owner/name of a GitHub repository URL: https://github.com/o/r(.git), git@github.com:o/r.git,
# ssh://git@github.com/o/r.git. A GitHub Enterprise Server's host is not guessed.
NAME = r"[A-Za-z0-9_.-]{1,100}"
REPOSITORY = re.compile(rf"^(?:[\w.+-]+://)?(?:[^@/]+@)?github\.com[:/]({NAME})/({NAME}?)/?$")


class GitHubError(Exception):
    """GitHub did not do what was asked; the message says why, in GitHub's words."""


class TokenRefused(GitHubError):
    pass


def repository_of(url: str) -> tuple[str, str] | None:
    """(owner, name) of a github.com repository URL, None for any other URL."""
    found = REPOSITORY.match(url.strip())
    if not found:
        return None
    owner, name = found.groups()
    name = name.removesuffix(".git")
    return (owner, name) if name.strip(".") and owner.strip(".") else None


def account(token: str) -> str:
    """The login of the account `token` belongs to; TokenRefused when GitHub refuses it."""
    status, body = _call("GET", "/user", token)
    if status in (401, 403):
        raise TokenRefused(f"GitHub refused this token ({status}: {_message(body)}).")
    if status != 200 or not isinstance(body, dict) or not body.get("login"):
        raise GitHubError(f"GitHub answered HTTP {status}: {_message(body)}.")
    return str(body["login"])


def create_deployment(token, repository, sha, environment, description) -> int:
    """A GitHub Deployment of commit `sha` to `environment`; its id."""
    owner, name = repository
    fields = {
        "ref": sha,
        "environment": environment,
        "description": description[:140],
        "auto_merge": False,  # deploy the commit asked for, nothing merged into it
        "required_contexts": [],  # herokucd decided already (its webhook checks)
        "payload": {"herokucd": True},
    }
    status, body = _call("POST", f"/repos/{_path(owner)}/{_path(name)}/deployments", token, fields)
    if status != 201 or not isinstance(body, dict) or not isinstance(body.get("id"), int):
        message = _message(body)
        raise GitHubError(f"GitHub did not create the deployment (HTTP {status}: {message}).")
    return body["id"]


def create_status(token, repository, deployment_id, state, **fields) -> None:
    """A new status (`state`: queued, in_progress, success, failure, inactive...) of a
    deployment, with log_url, environment_url and description when given."""
    owner, name = repository
    path = f"/repos/{_path(owner)}/{_path(name)}/deployments/{int(deployment_id)}/statuses"
    body = {"state": state, **{key: value for key, value in fields.items() if value}}
    if "description" in body:
        body["description"] = body["description"][:140]
    status, answer = _call("POST", path, token, body)
    if status != 201:
        raise GitHubError(f"GitHub did not take the status (HTTP {status}: {_message(answer)}).")


def _path(part: str) -> str:
    return quote(part, safe="")


def _call(method, path, token, body=None):
    headers = {
        "Accept": "application/vnd.github+json",
        "Authorization": f"Bearer {token}",
        "X-GitHub-Api-Version": API_VERSION,
    }
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    url = settings.GITHUB_API_URL + path
    try:
        response = http.request(
            method,
            url,
            body=data,
            headers=headers,
            what="GitHub",
            redirects=0,
            max_bytes=MAX_BYTES,
            timeout=TIMEOUT_SECONDS,
        )
    except (http.Refused, http.RequestFailed) as error:
        host = urlsplit(settings.GITHUB_API_URL).hostname
        raise GitHubError(f"Could not reach GitHub at {host}: {error}") from None
    try:
        return response.status, json.loads(response.body)
    except ValueError:
        return response.status, None


def _message(body) -> str:
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"][:200]
    return "no message"
