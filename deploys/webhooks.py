"""Build results from CI systems: who sent them, whether they are authentic, what they say.

`receive(endpoint, headers, body)` is the whole flow: the signature is checked on the raw body
before anything parses it, then the body becomes a `Build`, then herokucd decides (deploy, or
record "no deploy" with the reason). Formats and headers: docs/heroku.md §7.

A captured delivery sent again deploys nothing new: its delivery id was seen, or its commit was
deployed to that environment by a webhook within WEBHOOK_REPLAY_WINDOW, or the timestamp its
sender signed (CircleCI's `happened_at`, a generic sender's `timestamp`) is older than
WEBHOOK_MAX_AGE. The pipeline then deploys the commit only if it is on the branch it names.
"""

import hashlib
import hmac
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from deploys import gates, jobs
from deploys.models import Trigger
from deploys.trigger_models import Outcome, RejectedDelivery, WebhookEvent, hash_token
from projects.models import Project

GITHUB, CIRCLECI, GITLAB, GENERIC = "github", "circleci", "gitlab", "generic"
SHA = re.compile(r"[0-9a-fA-F]{7,40}")  # always fullmatch: "$" would let a newline through
REPLAY = "replay"


class Refused(Exception):
    """A delivery answered with an error. The answer says `str(error)`; the deliveries list shows
    `listed`, the same in the words of someone fixing their CI settings."""

    def __init__(self, message: str, listed: str = ""):
        super().__init__(message)
        self.listed = listed or message


class SignatureError(Refused):
    """Missing or wrong signature: answered 401, nothing else happens."""


class StaleEvent(SignatureError):
    """A signed timestamp too far from now: a delivery captured and sent again later (401)."""


class MalformedEvent(Refused):
    """The body cannot be read as the event it claims to be: answered 400 with the reason."""


@dataclass
class Build:
    provider: str
    event: str
    delivery_id: str = ""
    branches: list[str] = field(default_factory=list)  # candidates, best first
    sha: str = ""
    green: bool = False
    why_not: str = ""  # why this is no reason to deploy, in the user's words
    ignored: bool = False  # not a build result at all (e.g. GitHub's ping)
    detail: str = ""  # what the deploy page shows as its trigger

    @property
    def branch(self):
        return self.branches[0] if self.branches else ""


@dataclass
class Answer:
    status: int
    outcome: str
    reason: str
    event: WebhookEvent | None = None

    def as_json(self):
        deploy = self.event.deploy if self.event else None
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "deploy": deploy.number if deploy else None,
        }


# Detection and signatures


def detect_provider(headers) -> str:
    if headers.get("X-GitHub-Event"):
        return GITHUB
    if headers.get("circleci-event-type"):
        return CIRCLECI
    if headers.get("X-Gitlab-Event"):
        return GITLAB
    return GENERIC


def hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _check_any(given: list[str], secrets: list[str], body: bytes) -> None:
    expected = [hmac_hex(secret, body) for secret in secrets]
    # Every comparison runs, so timing says nothing about which one matched.
    matches = [_same(g, e) for g in given for e in expected]
    if not any(matches):
        raise SignatureError(
            "The signature does not match the webhook's signing secret.",
            "Signature does not match the webhook's secret: check the secret in your CI settings "
            "(after Rotate secret, the new one; the old one works 24 hours).",
        )


def verify_github_style(headers, body: bytes, secrets: list[str]) -> None:
    header = headers.get("X-Hub-Signature-256", "")
    if not header:
        raise SignatureError(
            "Missing X-Hub-Signature-256 header.",
            "Unsigned: no X-Hub-Signature-256 header. Set the webhook's secret in your CI "
            "settings (GitHub: Secret), or sign the body as shown above.",
        )
    scheme, _, given = header.partition("=")
    if scheme != "sha256":
        raise SignatureError(
            "X-Hub-Signature-256 must be sha256=<hex HMAC-SHA256 of the body>.",
            "The X-Hub-Signature-256 header is not sha256=<hex HMAC-SHA256 of the body>: "
            "sign with SHA-256 (GitHub: the X-Hub-Signature-256 header, not X-Hub-Signature).",
        )
    _check_any([given], secrets, body)


def verify_circleci(headers, body: bytes, secrets: list[str]) -> None:
    parts = [
        part.strip().partition("=") for part in headers.get("circleci-signature", "").split(",")
    ]
    given = [value for version, _, value in parts if version == "v1"]
    if not given:
        raise SignatureError(
            "Missing v1 in the circleci-signature header.",
            "Unsigned: no v1 signature in the circleci-signature header. Set the webhook's "
            "secret as the CircleCI webhook's Secret token.",
        )
    _check_any(given, secrets, body)


def verify_gitlab(headers, body: bytes, token_hashes: list[str]) -> None:
    """GitLab sends its secret token in clear: compared by hash with the GitLab token, which is
    never the signing secret (a token sent in clear must not be able to sign other bodies)."""
    if not token_hashes:
        raise SignatureError(
            "This webhook has no GitLab token: create one on the project's Triggers page and "
            "paste it as the Secret token of the GitLab webhook."
        )
    token = headers.get("X-Gitlab-Token", "")
    if not token:
        raise SignatureError(
            "Missing X-Gitlab-Token header.",
            "No GitLab token sent: paste the webhook's GitLab token as the GitLab webhook's "
            "Secret token.",
        )
    given = hash_token(token)
    matches = [_same(given, expected) for expected in token_hashes]
    if not any(matches):
        raise SignatureError(
            "X-Gitlab-Token does not match the webhook's GitLab token (not its signing secret).",
            "GitLab token does not match: paste the webhook's current GitLab token (not the "
            "signing secret) as the GitLab webhook's Secret token.",
        )


VERIFIERS = {
    GITHUB: verify_github_style,
    CIRCLECI: verify_circleci,
    GITLAB: verify_gitlab,
    GENERIC: verify_github_style,
}


def verify(provider, headers, body: bytes, secrets: list[str]) -> None:
    """`secrets`: the signing secrets, or for GitLab the hashes of the GitLab tokens."""
    VERIFIERS[provider](headers, body, secrets)


def credentials(endpoint, provider) -> list[str]:
    if provider == GITLAB:
        return endpoint.valid_gitlab_token_hashes()
    return endpoint.valid_secrets()


# Signed timestamps


def check_fresh(value, what: str) -> None:
    """Refuse a signed timestamp further than WEBHOOK_MAX_AGE from now, either way."""
    age = (timezone.now() - _moment(value, what)).total_seconds()
    limit = settings.WEBHOOK_MAX_AGE
    if abs(age) <= limit:
        return
    off = f"{age:.0f} seconds old" if age > 0 else f"{-age:.0f} seconds in the future"
    raise StaleEvent(
        f"The delivery is stale: its signed {what} ({value}) is {off}, and herokucd accepts "
        f"only deliveries within {limit} seconds of its clock, so a captured one cannot be sent "
        "again. Check the sender's clock; deploy a late build from herokucd instead."
    )


def _moment(value, what: str) -> datetime:
    """An ISO 8601 time with its zone, or Unix seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            pass
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment
    raise MalformedEvent(
        f"The {what} must be an ISO 8601 time with its zone (2026-11-27T12:00:00Z) or Unix seconds."
    )


# Parsing


def load_json(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedEvent(f"The body is not JSON: {error}.") from None
    if not isinstance(data, dict):
        raise MalformedEvent("The body must be a JSON object.")
    if _holds_nul(data):  # no CI sends one, and PostgreSQL cannot store it
        raise MalformedEvent("The body holds a NUL character (\\u0000).")
    return data


def _holds_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def dig(data, *path, kind=str):
    """data[path...] if it is of `kind`, else None (payloads are open maps)."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data if isinstance(data, kind) else None


def require(data, *path, kind=str):
    value = dig(data, *path, kind=kind)
    if value is None:
        raise MalformedEvent(f"The body has no {'.'.join(path)}.")
    return value


def _green(build: Build, status: str, what: str) -> Build:
    build.green = status == "success"
    if not build.green:
        build.why_not = f"The build is not green: {what} is {status or 'empty'}."
    return build


def parse_github(headers, body: bytes) -> Build:
    event = headers.get("X-GitHub-Event", "")
    build = Build(GITHUB, event, delivery_id=headers.get("X-GitHub-Delivery", ""))
    parser = GITHUB_EVENTS.get(event)
    if parser is None:
        build.ignored = True
        build.why_not = f"GitHub {event} events are not build results; herokucd ignores them."
        return build
    return parser(build, load_json(body))


def _github_run(build: Build, data: dict, key: str) -> Build:
    run = require(data, key, kind=dict)
    build.branches = [require(run, "head_branch")] if dig(run, "head_branch") else []
    build.sha = require(run, "head_sha")
    build.detail = f"GitHub {key} {dig(run, 'name') or dig(data, 'repository', 'full_name') or ''}"
    action = require(data, "action")
    if action != "completed":
        build.why_not = f"The {key} is not finished (action {action})."
        return build
    return _green(build, dig(run, "conclusion") or "", f"{key}.conclusion")


def parse_github_workflow_run(build, data):
    return _github_run(build, data, "workflow_run")


def parse_github_check_suite(build, data):
    return _github_run(build, data, "check_suite")


def parse_github_status(build, data):
    build.sha = require(data, "sha")
    branches = require(data, "branches", kind=list)
    build.branches = [name for b in branches if (name := dig(b, "name"))]
    build.detail = f"GitHub status {dig(data, 'context') or ''}".strip()
    return _green(build, require(data, "state"), "state")


GITHUB_EVENTS = {
    "workflow_run": parse_github_workflow_run,
    "check_suite": parse_github_check_suite,
    "status": parse_github_status,
}


def _circleci_vcs(pipeline: dict) -> tuple[str, str]:
    """(branch, sha) from `vcs`, or from `trigger_parameters` (GitLab, GitHub App projects)."""
    vcs = dig(pipeline, "vcs", kind=dict)
    if vcs:
        return dig(vcs, "branch") or "", dig(vcs, "revision") or ""
    params = dig(pipeline, "trigger_parameters", kind=dict) or {}
    for source in ("git", "gitlab", "github_app"):
        found = dig(params, source, kind=dict) or {}
        sha = dig(found, "checkout_sha") or dig(found, "commit_sha") or ""
        if dig(found, "branch") or sha:
            return dig(found, "branch") or "", sha
    raise MalformedEvent("The body has neither pipeline.vcs nor pipeline.trigger_parameters.")


def parse_circleci(headers, body: bytes) -> Build:
    data = load_json(body)
    build = _circleci_event(headers.get("circleci-event-type", ""), data)
    check_fresh(require(data, "happened_at"), "happened_at")  # signed with the body
    return build


def _circleci_event(event: str, data: dict) -> Build:
    build = Build(CIRCLECI, event, delivery_id=require(data, "id"))
    if event != "workflow-completed":
        build.ignored = True
        build.why_not = f"CircleCI {event} events are not used; send workflow-completed."
        return build
    workflow = require(data, "workflow", kind=dict)
    branch, build.sha = _circleci_vcs(require(data, "pipeline", kind=dict))
    build.branches = [branch] if branch else []
    build.detail = f"CircleCI workflow {dig(workflow, 'name') or ''}".strip()
    return _green(build, require(workflow, "status"), "workflow.status")


def parse_gitlab(headers, body: bytes) -> Build:
    event = headers.get("X-Gitlab-Event", "")
    delivery = headers.get("Idempotency-Key") or headers.get("X-Gitlab-Event-UUID", "")
    build = Build(GITLAB, event, delivery_id=delivery)
    if event != "Pipeline Hook":
        build.ignored = True
        build.why_not = f"GitLab {event} events are not used; enable Pipeline events."
        return build
    attributes = require(load_json(body), "object_attributes", kind=dict)
    build.sha = require(attributes, "sha")
    is_tag = dig(attributes, "tag", kind=bool)
    build.branches = [] if is_tag else [require(attributes, "ref")]
    build.detail = f"GitLab pipeline {dig(attributes, 'id', kind=int) or ''}".strip()
    return _green(build, require(attributes, "status"), "object_attributes.status")


def parse_generic(headers, body: bytes) -> Build:
    data = load_json(body)
    if "timestamp" in data:  # optional, signed with the body
        check_fresh(data["timestamp"], "timestamp")
    delivery = headers.get("X-Herokucd-Delivery") or dig(data, "id") or ""
    build = Build(GENERIC, "build", delivery_id=delivery)
    build.branches = [require(data, "branch")]
    # Required: a webhook deploys the commit CI built, never whatever the branch holds later.
    build.sha = require(data, "sha")
    build.detail = "Webhook"
    return _green(build, require(data, "status"), "status")


PARSERS = {
    GITHUB: parse_github,
    CIRCLECI: parse_circleci,
    GITLAB: parse_gitlab,
    GENERIC: parse_generic,
}


def parse(provider, headers, body: bytes) -> Build:
    build = PARSERS[provider](headers, body)
    if not build.ignored and not SHA.fullmatch(build.sha):
        raise MalformedEvent("The commit sha must be 7 to 40 hexadecimal characters.")
    build.sha = build.sha.lower()
    check_storable(build)
    return build


def check_storable(build: Build) -> None:
    """Refuse what no CI sends and no column can keep (headers are not checked elsewhere)."""
    texts = [build.event, build.delivery_id, *build.branches]
    if any("\x00" in text for text in texts):
        raise MalformedEvent("The event holds a NUL character.")
    if len(build.delivery_id) > 200:
        raise MalformedEvent("The delivery id is longer than 200 characters.")
    if any(len(branch) > 255 for branch in build.branches):
        raise MalformedEvent("The branch name is longer than 255 characters.")
    build.event = build.event[:100]


# Deciding


def matching_environment(project, branches: list[str]):
    """The first environment in settings order whose branch pattern matches one of `branches`."""
    for environment in project.environments.order_by("position", "pk"):
        for branch in branches:
            if environment.matches(branch):
                return environment, branch
    return None, ""


def decide(project, build: Build):
    """(outcome, reason, environment, branch) for a parsed, authentic build."""
    if build.ignored:
        return Outcome.IGNORED, build.why_not, None, build.branch
    if build.why_not:
        return Outcome.NO_DEPLOY, build.why_not, None, build.branch
    if not build.branches:
        return Outcome.NO_DEPLOY, "The build names no branch (a tag build?).", None, ""
    environment, branch = matching_environment(project, build.branches)
    if environment is None:
        names = ", ".join(build.branches)
        return Outcome.NO_DEPLOY, f"No environment deploys branch {names}.", None, build.branch
    if not environment.auto_deploy:
        reason = f"Auto-deploy on green builds is off for {environment.name}."
        return Outcome.NO_DEPLOY, reason, environment, branch
    decision = gates.check(environment, trigger=Trigger.WEBHOOK)
    if decision.held:  # kept: unlocking offers to deploy it (gates.held_commit)
        return Outcome.HELD, decision.why_not, environment, branch
    reason = f"Deploying {branch} to {environment.name}."
    if decision.approvals:
        count = f"{decision.approvals} approval{'s' if decision.approvals > 1 else ''}"
        reason = f"Deploy of {branch} to {environment.name} waits for {count}."
    return Outcome.DEPLOYED, reason, environment, branch


def _start_deploy(environment, branch, build: Build):
    from deploys.services import request_deploy

    return request_deploy(
        environment,
        sha=build.sha,
        branch=branch,
        trigger=Trigger.WEBHOOK,
        detail=build.detail,
        check_queue=False,  # record() asked before storing the event
    )


def _deploy_or_hold(event, environment, branch, build: Build) -> None:
    from deploys.services import Held

    try:
        event.deploy = _start_deploy(environment, branch, build)
    except Held as held:  # locked or frozen since decide() looked
        event.outcome, event.reason = Outcome.HELD, str(held)[:500]
    event.save(update_fields=["deploy", "outcome", "reason"])


def _store(endpoint, build: Build, outcome, reason, environment, branch, deploy=None, source=""):
    return WebhookEvent.objects.create(
        status=200 if deploy else 202,
        source_address=source,
        endpoint=endpoint,
        delivery_id=build.delivery_id,
        provider=build.provider,
        event=build.event[:100],
        branch=branch[:255],
        sha=build.sha,
        outcome=outcome,
        reason=reason[:500],
        environment=environment,
        deploy=deploy,
    )


def earlier_deploy(environment, sha: str):
    """The deploy a webhook made of `sha` to `environment` within WEBHOOK_REPLAY_WINDOW.

    Called in the transaction that creates the deploy, with the project's row locked (the lock
    the deploy's numbering takes anyway): a concurrent delivery of the same commit waits, then
    finds this one's deploy. On SQLite, IMMEDIATE transactions serialize writers instead."""
    from deploys.models import Deploy

    list(Project.objects.select_for_update().filter(pk=environment.project_id).values("pk"))
    since = timezone.now() - timedelta(seconds=settings.WEBHOOK_REPLAY_WINDOW)
    # The pipeline replaces a short sha by the full one: a prefix matches both.
    deploys = Deploy.objects.filter(
        environment=environment, trigger=Trigger.WEBHOOK, sha__startswith=sha, created_at__gte=since
    )
    return deploys.order_by("-created_at").first()


def _already(deploy, environment) -> str:
    state = deploy.get_state_display().lower()
    return (
        f"Commit {deploy.sha[:7]} already has a webhook deploy to {environment.name}: "
        f"#{deploy.number} ({state}). Another build of the same commit within "
        f"{settings.WEBHOOK_REPLAY_WINDOW // 60} minutes deploys nothing more (to deploy it "
        f"again, retry #{deploy.number})."
    )


def record(endpoint, build: Build, source: str = "") -> Answer:
    """Decide and store the event; a delivery id seen before creates nothing (200), a commit
    deployed by a webhook within the replay window is recorded without a deploy (200)."""
    if build.delivery_id and endpoint.events.filter(delivery_id=build.delivery_id).exists():
        return Answer(200, REPLAY, "This delivery was received before; nothing to do.")
    outcome, reason, environment, branch = decide(endpoint.project, build)
    if outcome == Outcome.DEPLOYED:
        jobs.check_queue()  # raises before anything is recorded, so a redelivery deploys later
    with transaction.atomic():
        earlier = None
        if outcome == Outcome.DEPLOYED and (earlier := earlier_deploy(environment, build.sha)):
            outcome, reason = Outcome.NO_DEPLOY, _already(earlier, environment)
        try:
            with transaction.atomic():
                event = _store(
                    endpoint, build, outcome, reason, environment, branch, earlier, source
                )
        except IntegrityError:
            # The same delivery arriving twice at once: the other request handles it.
            return Answer(200, REPLAY, "This delivery was received before; nothing to do.")
        if outcome == Outcome.DEPLOYED:
            _deploy_or_hold(event, environment, branch, build)
        elif earlier:
            return Answer(200, REPLAY, reason, event)
    return Answer(202, event.outcome, event.reason, event)


def receive(endpoint, headers, body: bytes, source: str = "") -> Answer:
    """Verify, parse, decide, record. Raises SignatureError (401) or MalformedEvent (400).
    `source`: the address the delivery came from, listed with it."""
    provider = detect_provider(headers)
    verify(provider, headers, body, credentials(endpoint, provider))
    return record(endpoint, parse(provider, headers, body), source)


# Deliveries that record no event

EVENT_HEADERS = {
    GITHUB: "X-GitHub-Event",
    CIRCLECI: "circleci-event-type",
    GITLAB: "X-Gitlab-Event",
}
DELIVERY_HEADERS = (
    "X-GitHub-Delivery",
    "X-Gitlab-Event-UUID",
    "Idempotency-Key",
    "X-Herokucd-Delivery",
)


def _header(headers, name: str, limit: int) -> str:
    """A header value as sent, cut to `limit` and without characters no column keeps."""
    return headers.get(name, "")[:limit].replace("\x00", "")


class ListingThrottle:
    """At most RATE refused deliveries a second per webhook are written, per web process.

    Forged deliveries used to cost no write at all; listing them must not let a flood hold the
    database's write lock (SQLite has one for everything, deploy logs included). Past the rate
    a delivery is answered as ever and only counted; the next one listed says how many were not.
    """

    RATE = 5

    def __init__(self, clock=time.monotonic):
        self.clock, self.lock, self.windows = clock, threading.Lock(), {}

    def admit(self, key) -> int | None:
        """None: do not write this one. Else how many were left unlisted before it."""
        second = int(self.clock())
        with self.lock:
            start, written, skipped = self.windows.get(key, (second, 0, 0))
            if start != second:
                start, written = second, 0
            if written >= self.RATE:
                self.windows[key] = (start, written, skipped + 1)
                return None
            self.windows[key] = (start, written + 1, 0)
            if len(self.windows) > 10_000:  # endpoints are few; never grow without bound
                self.windows.clear()
            return skipped


THROTTLE = ListingThrottle()


def record_rejected(endpoint, headers, status: int, reason: str, source: str = ""):
    """List a delivery that recorded no event, then keep only the newest KEEP of the webhook.

    Bounded work whatever was sent: a few header values cut short (never the body, the
    signature or the token), one INSERT, one indexed SELECT of a single row at offset KEEP and
    at most one DELETE (a fast delete: no signal or cascade hangs on these rows); none of it
    past ListingThrottle.RATE a second."""
    unlisted = THROTTLE.admit(endpoint.public_id)
    if unlisted is None:
        return None
    if unlisted:
        note = (
            f" ({unlisted} more just before were not listed: over {ListingThrottle.RATE} a second.)"
        )
        reason = reason[: 500 - len(note)] + note
    provider = detect_provider(headers)
    event_header = EVENT_HEADERS.get(provider)
    delivery = next((h for h in DELIVERY_HEADERS if headers.get(h)), "")
    rejected = endpoint.rejected_deliveries.create(
        status=status,
        provider=provider,
        event=_header(headers, event_header, 100) if event_header else "",
        delivery_id=_header(headers, delivery, 200) if delivery else "",
        source_address=source[:45],
        reason=reason[:500],
    )
    _prune(endpoint, RejectedDelivery.KEEP)
    return rejected


def _prune(endpoint, keep: int) -> None:
    newest = endpoint.rejected_deliveries.order_by("-pk").values_list("pk", flat=True)
    cutoff = list(newest[keep : keep + 1])
    if cutoff:
        endpoint.rejected_deliveries.filter(pk__lte=cutoff[0]).delete()
