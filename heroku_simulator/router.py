"""Routing and the request pipeline shared by the Platform API and the Postgres data API.

Pipeline order: route match, injected fault, Accept (406), auth (401), rate limit (429),
unknown route (404), handler, event record.
"""

import base64
import json
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from .pagination import Listing, paginate
from .representations import error_body

ACCEPT = re.compile(r"application/vnd\.heroku\+json;\s*version=3(\.[\w-]+)?\b")
NOT_FOUND_ROUTE = (
    "The requested API endpoint was not found. Are you using the right HTTP verb (i.e. `GET` "
    "vs. `POST`), and did you specify your intended version with the `Accept` header?"
)
RATE_LIMIT_MESSAGE = (
    "Your account reached the API rate limit\nPlease wait a few minutes before making new requests"
)
RATE_LIMIT_URL = "https://devcenter.heroku.com/articles/platform-api-reference#rate-limits"
STATUS_IDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    406: "not_acceptable",
    409: "conflict",
    422: "invalid_params",
    429: "rate_limit",
    500: "internal_server_error",
    503: "service_unavailable",
}


class ApiError(Exception):
    def __init__(self, status, error_id, message, url=None):
        super().__init__(message)
        self.status, self.error_id, self.message, self.url = status, error_id, message, url


@dataclass
class Route:
    method: str
    pattern: str
    func: object
    needs_accept: bool = True
    costs_token: bool = True
    regex: re.Pattern = None

    def __post_init__(self):
        source = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.pattern)
        self.regex = re.compile(f"^{source}$")

    @property
    def key(self):
        return f"{self.method} {self.pattern}"


@dataclass
class Call:
    """One API request as handlers see it."""

    sim: object
    method: str
    path: str
    query: dict
    headers: object
    body: bytes
    account: object = None
    app_name: str | None = None
    summary: str = ""
    extra_headers: dict = field(default_factory=dict)

    def json(self):
        if not self.body:
            return {}
        try:
            data = json.loads(self.body)
        except ValueError as error:
            raise ApiError(400, "bad_request", "Invalid JSON in request body.") from error
        if not isinstance(data, dict):
            raise ApiError(422, "invalid_params", "Request body must be a JSON object.")
        return data

    def app(self, name_or_id):
        """The app if this account may see it: 404 unknown, 403 someone else's."""
        app = self.sim.state.find_app(name_or_id)
        if app is None:
            raise ApiError(404, "not_found", "Couldn't find that app.")
        if not app.can_access(self.account):
            raise ApiError(403, "forbidden", f"You do not have access to the app {app.name}.")
        self.app_name = app.name
        return app


class Router:
    def __init__(self):
        self.routes = []

    def add(self, method, pattern, **options):
        def register(func):
            self.routes.append(Route(method, pattern, func, **options))
            return func

        return register

    def match(self, method, path):
        for route in self.routes:
            found = route.regex.match(path)
            if found and route.method == method:
                return route, found.groupdict()
        return None, {}

    def path_exists(self, path):
        return any(route.regex.match(path) for route in self.routes)


def _account_from_headers(sim, headers):
    auth = headers.get("Authorization", "")
    scheme, _, credentials = auth.partition(" ")
    token = credentials.strip()
    if scheme.lower() == "basic":
        try:
            token = base64.b64decode(token).decode().partition(":")[2]
        except ValueError:
            return None
    elif scheme.lower() != "bearer":
        return None
    return sim.state.account_for_key(token) if token else None


def _respond(handler, status, body, headers):
    handler.send_json(status, body, headers)


def _error(status, error_id, message, url=None):
    return status, error_body(error_id, message, url), {}


def _pipeline(sim, route, params, call):
    """Return (status, body, headers)."""
    if route is not None:
        fault = sim.faults.take(route.key)
        if fault and fault["status"]:
            status = int(fault["status"])
            message = fault["message"] or "Simulated failure."
            return _error(status, STATUS_IDS.get(status, "internal_server_error"), message)
    needs_accept = route.needs_accept if route else not call.path.startswith("/client/")
    if needs_accept and not ACCEPT.search(call.headers.get("Accept", "")):
        return _error(
            406, "not_acceptable", "Accept header must be `application/vnd.heroku+json; version=3`."
        )
    call.account = _account_from_headers(sim, call.headers)
    if call.account is None:
        return _error(401, "unauthorized", "Invalid credentials provided.")
    if route is None or route.costs_token:
        allowed, _remaining = sim.api_limits.take(call.account.id)
        if not allowed:
            return _error(429, "rate_limit", RATE_LIMIT_MESSAGE, RATE_LIMIT_URL)
    if route is None:
        return _error(404, "not_found", NOT_FOUND_ROUTE)
    return _run(route, params, call)


def _run(route, params, call):
    try:
        with call.sim.state.lock:
            result = route.func(call, **params)
    except ApiError as error:
        return _error(error.status, error.error_id, error.message, error.url)
    if isinstance(result, Listing):
        return paginate(result, call.headers.get("Range"))
    if isinstance(result, tuple):
        return result[0], result[1], {}
    return 200, result, {}


def handle(handler, router):
    sim = handler.server.sim
    parts = urlsplit(handler.path)
    call = Call(
        sim=sim,
        method=handler.command,
        path=parts.path,
        query={k: v[-1] for k, v in parse_qs(parts.query).items()},
        headers=handler.headers,
        body=handler.read_body(),
    )
    route, params = router.match(call.method, call.path)
    status, body, headers = _pipeline(sim, route, params, call)
    headers = {**headers, **call.extra_headers, "Request-Id": str(uuid.uuid4())}
    if call.account is not None:
        headers["RateLimit-Remaining"] = str(sim.api_limits.remaining(call.account.id))
    else:
        headers["RateLimit-Remaining"] = str(sim.api_limits.capacity)
    if call.method not in ("GET", "HEAD") and call.account is not None:
        summary = call.summary or (body.get("message", "") if isinstance(body, dict) else "")
        sim.state.record_event(call.method, call.path, call.app_name, summary, status)
    _respond(handler, status, body, headers)
