"""The simulator's HTTP server and state (in memory, one process or thread)."""

import json
import re
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

DOCS = "https://docs.github.com/rest"
STATES = {"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GitHubSimulator:
    """`tokens`: {token: login}; `repos`: ["owner/name"] every token may deploy to.

    `down` (set it) answers 503 to everything, as GitHub does in an outage; `exchanges` keeps
    every (method, path, request body, status, response body) for the tests' schema checks."""

    def __init__(self, tokens: dict, repos: list, port: int = 0):
        self.tokens = dict(tokens)
        self.repos = set(repos)
        self.down = False
        self.deployments = []  # dicts as GitHub answers them, with "_statuses"
        self.exchanges = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    # -- what tests read ---------------------------------------------------------------------

    def statuses(self, deployment_id: int) -> list[str]:
        """The states posted to a deployment, oldest first."""
        found = self._find(deployment_id)
        return [status["state"] for status in reversed(found["_statuses"])] if found else []

    def public(self, deployment) -> dict:
        return {key: value for key, value in deployment.items() if not key.startswith("_")}

    # -- the API -----------------------------------------------------------------------------

    def answer(self, method, path, query, headers, body) -> tuple[int, dict | list | None]:
        if self.down:
            return 503, {"message": "Service Unavailable", "documentation_url": DOCS}
        login = self._login(headers)
        if login is None:
            return 401, {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"}
        if method == "GET" and path == "/user":
            return 200, self._private_user(login)
        match = re.fullmatch(r"/repos/([\w.-]+)/([\w.-]+)/deployments(?:/(\d+)/statuses)?", path)
        if not match or method not in ("GET", "POST"):
            return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}
        owner, repo, deployment_id = match.groups()
        if f"{owner}/{repo}".lower() not in {name.lower() for name in self.repos}:
            return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}
        with self._lock:
            if deployment_id is None:
                if method == "POST":
                    return self._create_deployment(owner, repo, login, body)
                return 200, self._list_deployments(owner, repo, query)
            found = self._find(int(deployment_id))
            if found is None or found["_repo"] != f"{owner}/{repo}":
                return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}
            if method == "POST":
                return self._create_status(found, login, body)
            return 200, [self.public(status) for status in found["_statuses"]]

    def _login(self, headers):
        auth = headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return None
        return self.tokens.get(token.strip())

    def _find(self, deployment_id):
        return next((d for d in self.deployments if d["id"] == deployment_id), None)

    def _create_deployment(self, owner, repo, login, body):
        if not isinstance(body, dict) or not isinstance(body.get("ref"), str):
            return 422, self._invalid("ref", "missing")
        number = len(self.deployments) + 1
        base = f"{self.url}/repos/{owner}/{repo}"
        environment = body.get("environment", "production")
        deployment = {
            "url": f"{base}/deployments/{number}",
            "id": number,
            "node_id": f"DE_sim{number}",
            "sha": body["ref"] if re.fullmatch(r"[0-9a-f]{40}", body["ref"]) else "0" * 40,
            "ref": body["ref"],
            "task": body.get("task", "deploy"),
            "payload": body.get("payload") or {},
            "original_environment": environment,
            "environment": environment,
            "description": body.get("description", ""),
            "creator": self._simple_user(login),
            "created_at": now(),
            "updated_at": now(),
            "statuses_url": f"{base}/deployments/{number}/statuses",
            "repository_url": base,
            "transient_environment": bool(body.get("transient_environment", False)),
            "production_environment": bool(
                body.get("production_environment", environment == "production")
            ),
            "_repo": f"{owner}/{repo}",
            "_statuses": [],  # newest first, as GitHub lists them
        }
        self.deployments.append(deployment)
        return 201, self.public(deployment)

    def _list_deployments(self, owner, repo, query):
        found = [d for d in self.deployments if d["_repo"] == f"{owner}/{repo}"]
        for name in ("sha", "ref", "environment", "task"):
            if name in query:
                found = [d for d in found if d[name] == query[name]]
        return [self.public(d) for d in reversed(found)]

    def _create_status(self, deployment, login, body):
        if not isinstance(body, dict) or body.get("state") not in STATES:
            return 422, self._invalid("state", "invalid")
        status = self._status(deployment, login, body)
        deployment["_statuses"].insert(0, status)
        deployment["updated_at"] = status["updated_at"]
        if body["state"] == "success" and body.get("auto_inactive", True):
            self._inactivate_older(deployment, login)
        return 201, self.public(status)

    def _inactivate_older(self, deployment, login):
        """What auto_inactive does: an inactive status on the earlier deployments of the same
        repository and environment whose last status is success (not transient ones)."""
        for older in self.deployments:
            last = older["_statuses"][0]["state"] if older["_statuses"] else None
            same = older["_repo"] == deployment["_repo"]
            same = same and older["environment"] == deployment["environment"]
            lasting = not older["transient_environment"]
            if same and lasting and older is not deployment and last == "success":
                older["_statuses"].insert(0, self._status(older, login, {"state": "inactive"}))

    def _status(self, deployment, login, body):
        number = sum(len(d["_statuses"]) for d in self.deployments) + 1
        log_url = body.get("log_url", body.get("target_url", ""))
        return {
            "url": f"{deployment['url']}/statuses/{number}",
            "id": number,
            "node_id": f"DES_sim{number}",
            "state": body["state"],
            "creator": self._simple_user(login),
            "description": body.get("description", "")[:140],
            "environment": body.get("environment", deployment["environment"]),
            "target_url": log_url,
            "created_at": now(),
            "updated_at": now(),
            "deployment_url": deployment["url"],
            "repository_url": deployment["repository_url"],
            "environment_url": body.get("environment_url", ""),
            "log_url": log_url,
            "performed_via_github_app": None,
        }

    def _invalid(self, field, code):
        return {
            "message": "Validation Failed",
            "errors": [{"resource": "Deployment", "field": field, "code": code}],
            "documentation_url": DOCS,
        }

    def _simple_user(self, login):
        user_id = sorted(self.tokens.values()).index(login) + 1
        base = f"{self.url}/users/{login}"
        return {
            "login": login,
            "id": user_id,
            "node_id": f"U_sim{user_id}",
            "avatar_url": f"{self.url}/avatars/{login}",
            "gravatar_id": "",
            "url": base,
            "html_url": f"{self.url}/{login}",
            "followers_url": f"{base}/followers",
            "following_url": f"{base}/following{{/other_user}}",
            "gists_url": f"{base}/gists{{/gist_id}}",
            "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{base}/subscriptions",
            "organizations_url": f"{base}/orgs",
            "repos_url": f"{base}/repos",
            "events_url": f"{base}/events{{/privacy}}",
            "received_events_url": f"{base}/received_events",
            "type": "User",
            "site_admin": False,
        }

    def _private_user(self, login):
        return {
            **self._simple_user(login),
            "name": login,
            "company": None,
            "blog": "",
            "location": None,
            "email": None,
            "hireable": None,
            "bio": None,
            "public_repos": len(self.repos),
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": "2020-01-01T00:00:00Z",
            "updated_at": now(),
            "private_gists": 0,
            "total_private_repos": 0,
            "owned_private_repos": 0,
            "disk_usage": 0,
            "collaborators": 0,
            "two_factor_authentication": True,
        }

    # -- HTTP --------------------------------------------------------------------------------

    def _handler(self):
        sim = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def _serve(self, method):
                parts = urlsplit(self.path)
                query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                status, answer = sim.answer(method, parts.path, query, self.headers, body)
                sim.exchanges.append((method, parts.path, body, status, answer))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
