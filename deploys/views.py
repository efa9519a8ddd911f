"""What people look at: the deploy page and its live log, the deploy history, and the content of
the project and home pages (`project_overview_context`, `project_cards`)."""

import hashlib
import json
import math
import re
import time
from dataclasses import dataclass

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.cache import caches
from django.core.handlers.asgi import ASGIRequest
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Count, Max, Min, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from deploys import gate_views, live, outgoing, ratelimit, waiting, waitslots
from deploys.logformat import MAX_LINE_NUMBER, decode_chunk, read_lines
from deploys.models import FINISHED_STATES, Deploy, State, StepState
from deploys.templatetags.queue_tags import queue_sentence
from deploys.trigger_models import GitRequest, Outcome, WebhookEvent
from projects import layout, pagecache
from projects.access import can_create_projects, get_project_for_user, memberships_of
from projects.models import Environment, HerokuCredential
from projects.setup import missing_steps

LONG_POLL_SECONDS = 20.0
SHARED_ANSWER_SECONDS = 2.0
# A new line reaches the page within ~this plus the request's round trip (goal: 300 ms p95).
POLL_INTERVAL = 0.05
STATE_CHECK_EVERY = 10  # polls between two looks at the deploy's state while waiting
MAX_WINDOW = 5000
MAX_MATCHES = 5000
PAGE_SIZE = 25
MAX_PAGE = 1_000_000  # a later page is empty anyway; the clamp keeps OFFSET in range
CHART_SIZE = 50
# What the cards show of what is live, loaded with the environments (no query of its own).
LIVE_WITH = ["live_release__deploy__triggered_by"]
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
DONE_STEP_STATES = {StepState.SUCCEEDED, StepState.FAILED, StepState.SKIPPED, StepState.CANCELED}


def _deploy_for_user(request, slug, number):
    project, membership = get_project_for_user(request, slug)
    deploy = get_object_or_404(
        Deploy.objects.select_related(
            "triggered_by", "promoted_from", "environment__live_release__deploy"
        ),
        project=project,
        number=number,
    )
    deploy.project = project
    return deploy, membership


def _int_param(query, name, default, low=0, high=MAX_LINE_NUMBER):
    """The parameter clamped to [low, high]; `default` when it is not a number. The database
    cannot take a number past its column's range (a 500), so `high` is always set."""
    try:
        value = int(query.get(name, default))
    except ValueError:
        value = default
    return min(max(value, low), high)


def plain_text(text: str) -> str:
    """What a terminal would show at the end: no ANSI escapes, the last carriage-return rewrite."""
    segments = [part for part in ANSI.sub("", text).split("\r") if part]
    return segments[-1] if segments else ""


# The deploy page ---------------------------------------------------------------------------


@login_required
@require_GET
def deploy_detail(request, slug, number):
    deploy, membership = _deploy_for_user(request, slug, number)
    steps = list(deploy.steps.all())
    queue = _waiting(deploy)
    log_state = _log_state(deploy, steps) | _queue_state(request, deploy, queue)
    log_state["version"] = header_version(deploy, steps, queue)
    ctx = {
        "project": deploy.project,
        "membership": membership,
        "deploy": deploy,
        "steps": log_state["steps"],
        "steps_done": sum(step["state"] in DONE_STEP_STATES for step in log_state["steps"]),
        "current_step": _current_step(log_state["steps"]),
        "not_started": _not_started(deploy, steps),
        "queue_html": log_state["queue_html"],
        "log_state": log_state,
        # Under a WSGI server a stream would hold a thread: the page long-polls (deploys/stream.py).
        "streams": isinstance(request, ASGIRequest),
        "outgoing": outgoing.for_deploy(deploy),
        "outgoing_base": "the deploy before it" if deploy.is_finished else "what is live",
    }
    ctx |= gate_views.approval_context(deploy, request.user)
    return render(request, "deploys/deploy_detail.html", ctx)


def _not_started(deploy, steps) -> bool:
    """Queued and no step begun: the page says so rather than "Step 0 of 8"."""
    waits = deploy.state in (State.QUEUED, State.WAITING)
    return waits and not any(step.started_at for step in steps)


# Where a queued deploy stands (deploys/waiting.py) -----------------------------------------


def _waiting(deploy):
    return waiting.waiting_of(deploy) if deploy.state == State.QUEUED else None


def _queue_state(request, deploy, queue) -> dict:
    """The queue note of the header, as data and as the page shows it (the viewer's projects
    decide whether another project's deploy is named)."""
    visible = {m.project.pk: m.project for m in memberships_of(request)}
    return {
        "queue": waiting.as_json(queue, deploy.project, visible),
        "queue_html": queue_sentence(queue, deploy.project, visible),
    }


def _current_step(steps):
    running = [step for step in steps if step["state"] == StepState.RUNNING]
    failed = [step for step in steps if step["state"] == StepState.FAILED]
    return (running or failed or [None])[0]


# A step that has not started reads "queued", as a deploy that has not: one vocabulary.
STEP_WORDS = {StepState.PENDING: (State.QUEUED, State.QUEUED.label)}


def _step_json(step):
    duration = None
    if step.started_at:
        duration = ((step.finished_at or _now()) - step.started_at).total_seconds()
    state, label = STEP_WORDS.get(step.state, (step.state, step.get_state_display()))
    return {
        "position": step.position,
        "title": step.title,
        "state": state,
        "label": label,
        "first_line": step.first_line,
        "duration": duration,
        "started_at": _iso(step.started_at),
    }


def _now():
    from django.utils import timezone

    return timezone.now()


def _iso(moment):
    return moment.isoformat() if moment else None


def _log_state(deploy, steps, lines=()):
    """What the page needs to draw and update itself: the header, the steps, no lines.

    `line_count` is the deploy's, which the log writer moves on in the transaction that stores
    the lines, so it is never behind the lines read before; `lines`, read after, may be ahead."""
    duration = deploy.duration
    return {
        "state": deploy.state,
        "label": deploy.get_state_display(),
        "finished": deploy.is_finished,
        "reason": deploy.reason,
        "sha": deploy.sha,
        "started_at": _iso(deploy.started_at),
        "finished_at": _iso(deploy.finished_at),
        "line_count": max(deploy.line_count, lines[-1].number if lines else 0),
        "steps": [_step_json(step) for step in steps],
        "duration": duration.total_seconds() if duration else None,
        "release_version": deploy.release_version,
    }


# What the header shows of a deploy and its steps: a long poll answers as soon as one changes.
STEP_HEADER_FIELDS = ["position", "state", "first_line", "finished_at", "title"]
HEADER_FIELDS = [
    "state",
    "reason",
    "sha",
    "started_at",
    "finished_at",
    "release_version",
    "previous_release_id",
]


def header_version(deploy, steps=None, queue=...) -> str:
    """A short fingerprint of the deploy's header and steps (not of its ticking durations),
    and of a queued deploy's place in the queue (`queue`: its Waiting, read when not given)."""
    if steps is None:
        steps = deploy.steps.only(*STEP_HEADER_FIELDS)
    if queue is ...:
        queue = _waiting(deploy)
    seen = [getattr(deploy, name) for name in HEADER_FIELDS]
    seen += [tuple(getattr(step, name) for name in STEP_HEADER_FIELDS) for step in steps]
    seen.append(queue.fingerprint() if queue else None)
    return hashlib.blake2s(repr(seen).encode(), digest_size=6).hexdigest()


@login_required
@require_GET
def deploy_log(request, slug, number):
    """Lines after `after` (a cursor), at most `limit`, as JSON, with the header's state.

    With `wait=1` this is a long poll: when no line is there yet, the deploy still runs and its
    header is still the one the page has (`version`), hold the request (up to `timeout`, at most
    20 s) with short database polls and answer as soon as a line exists or the header changes
    (a queued deploy starts, a step begins or ends), so the page shows it at once without
    re-sending what it has. A finished deploy's answer carries its action buttons.
    """
    # The busiest request there is: every viewer of a running deploy, after every new line.
    # Its viewers ask the same question at the same moment; the first of this process to have
    # the answer leaves it for the others a moment (`shared`), so N viewers cost about one.
    project, membership = get_project_for_user(request, slug)
    after = _int_param(request.GET, "after", 0)
    limit = _int_param(request.GET, "limit", 1000, low=1, high=MAX_WINDOW)
    waiting = request.GET.get("wait") == "1"
    shared = f"log:{project.pk}:{number}:{after}:{limit}" if waiting else None
    body = caches["log-answers"].get(shared) if shared else None
    if body is None:
        deploy = get_object_or_404(Deploy, project=project, number=number)
        deploy.project = project
        body = _log_answer(request, deploy, membership, after, limit, shared)
        if body is None:
            return _busy()
    return HttpResponse(body, content_type="application/json")


def _busy():
    """The answer to a long poll that may not wait now (deploys/waitslots.py)."""
    message = "Too many live log requests are waiting; the page asks again in a moment."
    response = JsonResponse({"error": message}, status=429)
    response["Retry-After"] = str(waitslots.RETRY_AFTER_SECONDS)
    return response


def _log_answer(request, deploy, membership, after, limit, shared) -> bytes | None:
    lines = read_lines(deploy, after, limit)
    steps = list(deploy.steps.all())
    queue = _waiting(deploy)
    waiting = shared is not None
    if waiting:
        version = header_version(deploy, steps, queue)
        if not lines and (request.GET.get("version") or version) == version:
            with waitslots.wait_slot(request.user.pk) as allowed:
                if not allowed:
                    return None
                found = _wait_for_lines(deploy, after, limit, _timeout(request), version, shared)
            if isinstance(found, bytes):
                return found  # the answer another viewer's request left
            lines = found
            steps = list(deploy.steps.all())
            queue = _waiting(deploy)
            version = header_version(deploy, steps, queue)
    payload = _log_state(deploy, steps, lines) | _queue_state(request, deploy, queue)
    payload["lines"] = [[ln.number, ln.step, ln.stream, ln.time_ms, ln.text] for ln in lines]
    if waiting:
        payload["version"] = version
    if waiting and deploy.is_finished:
        payload["actions"] = _actions_html(request, deploy, membership)
        payload["end_state"] = _end_state_html(request, deploy, membership)
    body = json.dumps(payload, cls=DjangoJSONEncoder).encode()
    # Only answers that move a viewer on are shared, and none with one viewer's buttons in it,
    # nor a queue note (it names another project's deploy to that project's members only).
    if waiting and lines and not deploy.is_finished and queue is None:
        caches["log-answers"].set(shared, body, SHARED_ANSWER_SECONDS)
    return body


def _end_state_html(request, deploy, membership):
    """Where a failed or canceled deploy left the app, to show live once it ends."""
    context = {"project": deploy.project, "deploy": deploy, "membership": membership}
    return render_to_string("deploys/_end_state.html", context, request=request)


def _actions_html(request, deploy, membership):
    """The Cancel / Retry / Roll back buttons as the page renders them, to swap in live."""
    context = {"project": deploy.project, "deploy": deploy, "membership": membership}
    return render_to_string("deploys/actions/buttons.html", context, request=request)


def _timeout(request):
    try:
        value = float(request.GET.get("timeout", LONG_POLL_SECONDS))
    except ValueError:
        return LONG_POLL_SECONDS
    # NaN compares false with everything, so it would slip through min/max unclamped.
    return min(max(value, 0.0), LONG_POLL_SECONDS) if math.isfinite(value) else LONG_POLL_SECONDS


def _wait_for_lines(deploy, after, limit, timeout, version, shared):
    """The lines after `after` once there are some, the header changed or time is up; or the
    answer (bytes) another request of this process found first. One waiting request of this
    process reads the database per poll, the others look for the answer it leaves."""
    deadline = time.monotonic() + timeout
    polls = 0
    while not deploy.is_finished and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
        polls += 1
        if polls % STATE_CHECK_EVERY == 0:
            deploy.refresh_from_db(fields=HEADER_FIELDS)
            if header_version(deploy) != version:
                break
        answer = caches["log-answers"].get(shared)
        if answer is not None:
            return answer
        if not caches["log-answers"].add(f"{shared}:reading", True, POLL_INTERVAL):
            continue  # another request reads this round
        lines = read_lines(deploy, after, limit)
        if lines:
            return lines
    # It may have finished after our last read: one more look so no final line is missed.
    deploy.refresh_from_db(fields=[*HEADER_FIELDS, "line_count"])
    return read_lines(deploy, after, limit)


@login_required
@require_GET
def deploy_log_search(request, slug, number):
    """Numbers of the lines whose visible text holds `q` (case-insensitive), chunk by chunk."""
    deploy, _ = _deploy_for_user(request, slug, number)
    query = request.GET.get("q", "").strip().lower()
    matches, total = [], 0
    if query:
        for line in _all_lines(deploy):
            if query in plain_text(line.text).lower():
                total += 1
                if len(matches) < MAX_MATCHES:
                    matches.append(line.number)
    return JsonResponse({"query": query, "matches": matches, "total": total})


def _all_lines(deploy):
    """Every line, holding only a few chunks in memory at a time."""
    chunks = deploy.log_chunks.order_by("first_line").values_list("first_line", "content")
    for first_line, content in chunks.iterator(chunk_size=8):
        yield from decode_chunk(first_line, content)


@login_required
@require_GET
def deploy_log_raw(request, slug, number):
    """The log as plain text, streamed chunk by chunk, never whole in memory."""
    deploy, _ = _deploy_for_user(request, slug, number)
    chunks = deploy.log_chunks.order_by("first_line").values_list("first_line", "content")
    body = (
        "".join(f"{line.text}\n" for line in decode_chunk(first_line, content))
        for first_line, content in chunks.iterator(chunk_size=8)
    )
    response = StreamingHttpResponse(body, content_type="text/plain; charset=utf-8")
    filename = f"{deploy.project.slug}-deploy-{deploy.number}.log"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# History -----------------------------------------------------------------------------------


class HistoryFilter(forms.Form):
    environment = forms.ChoiceField(required=False)
    state = forms.ChoiceField(required=False, choices=[("", "Any state"), *State.choices])
    branch = forms.CharField(required=False, max_length=255)

    def __init__(self, data, environments):
        super().__init__(data)
        names = [(env.name, env.name) for env in environments]
        self.fields["environment"].choices = [("", "All environments"), *names]

    def apply(self, deploys):
        if not self.is_valid():
            return deploys
        wanted = {
            "environment_name": self.cleaned_data["environment"],
            "state": self.cleaned_data["state"],
            "branch": self.cleaned_data["branch"].strip(),
        }
        return deploys.filter(**{key: value for key, value in wanted.items() if value})


@dataclass
class HistoryPage:
    """One page of deploys, newest first. No "of N pages": counting every matching deploy would
    make the page slower as history grows, so it only knows whether an older page exists."""

    number: int
    deploys: list
    has_next: bool

    def __iter__(self):
        return iter(self.deploys)

    def __len__(self):
        return len(self.deploys)

    @property
    def has_previous(self):
        return self.number > 1


@login_required
@require_GET
def deploy_history(request, slug):
    project, _ = get_project_for_user(request, slug)
    query = request.GET.urlencode()
    body = pagecache.part(project, "history", query, lambda: history_part(project, request.GET))
    return layout.render_page(request, "deploys/deploy_history.html", {"project": project}, body)


def history_part(project, query) -> pagecache.Part:
    """The deploy history's content for the filters and page in `query` (a QueryDict)."""
    environments = list(project.environments.select_related("live_release"))
    form = HistoryFilter(query or None, environments)
    deploys = project.deploys.select_related("triggered_by", "promoted_from")
    deploys = form.apply(deploys.order_by("-number"))
    page, chart = _page_and_chart(deploys, _int_param(query, "page", 1, low=1, high=MAX_PAGE))
    waiting.describe(page.deploys)  # a queued row says its place: "2nd behind #10"
    ctx = {
        "project": project,
        "form": form,
        "page": page,
        "chart": deploy_chart(chart),
        "filter_query": _query_without_page(query),
        "live": live_by_environment(environments, ask=True),
    }
    html = render_to_string("deploys/_history.html", ctx)
    return pagecache.Part(html, under_way=not _all_finished(chart, page))


def _all_finished(*deploy_lists):
    return all(deploy.is_finished for deploys in deploy_lists for deploy in deploys)


def _page_and_chart(deploys, number):
    """(HistoryPage, the last 50 deploys): one query on page 1, whose rows the chart holds."""
    chart = list(deploys[:CHART_SIZE])
    start = (number - 1) * PAGE_SIZE
    if start + PAGE_SIZE < CHART_SIZE:
        rows = chart[start : start + PAGE_SIZE + 1]
    else:
        rows = list(deploys[start : start + PAGE_SIZE + 1])
    return HistoryPage(number, rows[:PAGE_SIZE], len(rows) > PAGE_SIZE), chart


def _query_without_page(query):
    query = query.copy()
    query.pop("page", None)
    return query.urlencode()


CHART_HEIGHT = 100
CHART_BAR = 10


def deploy_chart(deploys):
    """Bars for `deploys` (newest first, at most 50), oldest on the left: height is duration,
    colour is state; and the success rate of the finished ones."""
    rows = list(deploys)[:CHART_SIZE][::-1]
    seconds = [_seconds(deploy) for deploy in rows]
    longest = max([s for s in seconds if s] or [1])
    pairs = enumerate(zip(rows, seconds, strict=True))
    bars = [_bar(index, deploy, secs, longest) for index, (deploy, secs) in pairs]
    finished = [deploy for deploy in rows if deploy.state in FINISHED_STATES]
    succeeded = sum(deploy.state == State.SUCCEEDED for deploy in finished)
    return {
        "bars": bars,
        "rate": round(100 * succeeded / len(finished)) if finished else None,
        "finished": len(finished),
        "succeeded": succeeded,
        "width": max(len(rows), 1) * CHART_BAR,
        "height": CHART_HEIGHT,
        "longest": longest,
        "legend": [
            State.SUCCEEDED,
            State.FAILED,
            State.CANCELED,
            State.RUNNING,
            State.QUEUED,
            State.WAITING,
        ],
    }


def _seconds(deploy):
    duration = deploy.duration
    return duration.total_seconds() if duration is not None else None


def _bar(index, deploy, seconds, longest):
    height = max(2, round((seconds or 0) / longest * (CHART_HEIGHT - 4)))
    return {
        "number": deploy.number,
        "state": deploy.state,
        "environment_name": deploy.environment_name,
        "seconds": seconds,
        "x": index * CHART_BAR + 1,
        "y": CHART_HEIGHT - height,
        "height": height,
        "width": CHART_BAR - 2,
    }


# Project and home pages --------------------------------------------------------------------


def live_by_environment(environments, ask=False) -> dict:
    """{environment pk: its LiveRelease or None}, as the environments' query loaded them; with
    `ask`, an old one is read again in the background (the cards' template tag asks itself)."""
    found = {env.pk: live.of(env) for env in environments}
    for env in environments if ask else ():
        live.ask_if_stale(env, found[env.pk])
    return found


def _last_deploy(state=None, field="pk"):
    # Filtering on the project too lets the (project, environment, -number) index answer
    # "the newest deploy" with one index probe instead of sorting every deploy of the app.
    deploys = Deploy.objects.filter(project=OuterRef("project"), environment=OuterRef("pk"))
    if state:
        deploys = deploys.filter(state=state)
    return Subquery(deploys.order_by("-number").values(field)[:1])


def _count_deploys(state):
    deploys = Deploy.objects.filter(
        project=OuterRef("project"), environment=OuterRef("pk"), state=state
    )
    count = deploys.order_by().values("environment").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(count), 0)


def environments_with_last_deploys(project):
    """The project's environments, each with `.last_deploy`, `.last_success` and `.budget` (the
    git rate-limit budget of the project's key for its app): 3 queries whatever the history.

    `.last_deploy` is the running deploy while one runs, never hidden by a newer queued one:
    that one is `.queued` then, and `.queued_count` how many wait."""
    key_hash = HerokuCredential.objects.filter(project=OuterRef("project")).values("key_hash")
    environments = list(
        project.environments.annotate(
            last_deploy_id=_last_deploy(),
            last_success_id=_last_deploy(State.SUCCEEDED),
            running_id=_last_deploy(State.RUNNING),
            queued_count=_count_deploys(State.QUEUED),
            key_hash=Subquery(key_hash[:1]),
        ).select_related(*LIVE_WITH)
    )
    ids = {env.last_deploy_id for env in environments} | {e.last_success_id for e in environments}
    ids |= {env.running_id for env in environments}
    found = Deploy.objects.in_bulk([pk for pk in ids if pk])
    budgets = git_budgets(environments[0].key_hash, environments) if environments else {}
    for env in environments:
        env.last_deploy = found.get(env.last_deploy_id)
        env.last_success = found.get(env.last_success_id)
        env.budget = budgets.get(env.app_name)
        _running_first(env, found.get(env.running_id))
    return environments


def _running_first(env, running):
    newest = env.last_deploy
    env.queued = newest if running and newest.state == State.QUEUED else None
    env.last_deploy = running or newest


def git_budgets(key_hash, environments, now=None):
    """{app name: ratelimit.Budget} of one key, read from the shared ledger in one query.

    The figures of `ratelimit.budget()` (three queries per app) for every app at once; an app
    with no ledger row has its whole budget. Empty without a key: nothing pushes then.
    """
    if not key_hash:
        return {}
    now = now or _now()
    counted = Q(made_at__gt=now - ratelimit.window())
    rows = (
        GitRequest.objects.filter(
            key_hash=key_hash, app_name__in={e.app_name for e in environments}
        )
        .values("app_name")
        .annotate(
            used=Sum("requests", filter=counted, default=0),
            oldest=Min("made_at", filter=counted & Q(requests__gt=0)),
            retry_at=Max("retry_at"),
        )
        .order_by()
    )
    found = {row.pop("app_name"): row for row in rows}
    return {env.app_name: _budget(found.get(env.app_name), env) for env in environments}


def _budget(row, environment):
    row = row or {"used": 0, "oldest": None, "retry_at": None}
    next_free = row["oldest"] + ratelimit.window() if row["oldest"] else None
    return ratelimit.Budget(
        limit=ratelimit.limit(),
        used=row["used"],
        next_free=next_free,
        retry_at=row["retry_at"],
        environment=environment,
    )


def recent_no_deploys(project, count=5):
    """The last CI webhooks that deployed nothing, with why."""
    events = WebhookEvent.objects.filter(endpoint__project=project, outcome=Outcome.NO_DEPLOY)
    return list(events.order_by("-received_at", "-pk")[:count])


@login_required
def home(request):
    """Every project the user can see, each environment's state at a glance.

    Each project's card is kept like the project page (projects/pagecache.py): a kept card costs
    nothing but its share of two Redis round trips."""
    projects = [membership.project for membership in memberships_of(request)]
    cards = pagecache.parts(projects, "card", (), project_cards)
    cards = [mark_safe(card) for card in cards]  # noqa: S308 - rendered and escaped by templates
    can_create = can_create_projects(request.user)
    context = {"cards": cards, "can_create": can_create, "user": request.user}
    body = render_to_string("deploys/_home.html", context)
    return layout.render_page(request, "deploys/home.html", {}, body)


def project_cards(projects) -> dict:
    """{project pk: Part} of the home page's card of each project: one query for them all.

    A card is kept while a deploy runs: it shows the state, which every change moves on, and
    no time that ticks."""
    environments = (
        Environment.objects.filter(project__in=projects)
        .annotate(
            last_state=_last_deploy(field="state"),
            last_number=_last_deploy(field="number"),
            last_finished_at=_last_deploy(field="finished_at"),
            last_id=_last_deploy(),
            running_id=_last_deploy(State.RUNNING),
            queued_count=_count_deploys(State.QUEUED),
        )
        .select_related(*LIVE_WITH)
    )
    environments = list(environments)
    under_way = _card_queues(environments)
    by_project = {project.pk: [] for project in projects}
    for environment in environments:
        by_project[environment.project_id].append(environment)
    return {
        project.pk: pagecache.Part(
            render_to_string(
                "deploys/_project_card.html",
                {"project": project, "environments": by_project[project.pk]},
            ),
            under_way=project.pk in under_way,
        )
        for project in projects
    }


def _card_queues(environments) -> set:
    """Show each card's running deploy (`.running`, its step known), never hidden by a queued
    one; a queued one's place (`.waiting`): one query for every card, none when nothing is
    under way. The projects with a deploy under way."""
    busy = [env for env in environments if env.running_id or env.last_state == State.QUEUED]
    queues = waiting.Queues({env.app_name for env in busy})
    for env in environments:
        env.running = queues.by_pk.get(env.running_id)
        newest = queues.by_pk.get(env.last_id)
        env.waiting = queues.waiting(newest) if newest and not env.running else None
        env.queued = newest if env.running and newest and newest.state == State.QUEUED else None
        if env.running is not None:
            env.last_state, env.last_number = State.RUNNING, env.running.number
            env.last_finished_at = None
    return {env.project_id for env in busy}


@login_required
def project_overview(request, slug):
    """The project page. It lives here, not in projects/, because it shows deploys."""
    project, membership = get_project_for_user(request, slug)
    body = pagecache.part(
        project, "overview", membership.role, lambda: overview_part(project, membership)
    )
    return layout.render_page(request, "deploys/project_overview.html", {"project": project}, body)


def overview_part(project, membership) -> pagecache.Part:
    context = {"project": project, "membership": membership}
    context |= project_overview_context(project)
    html = render_to_string("deploys/_overview.html", context)
    environments = context["environments"]
    shown = [env.last_deploy for env in environments if env.last_deploy]
    return pagecache.Part(html, under_way=not _all_finished(shown, context["recent_deploys"]))


def project_overview_context(project):
    """Context for templates/deploys/_overview.html (fixed number of queries)."""
    recent = project.deploys.select_related("triggered_by", "promoted_from")
    recent = list(recent.order_by("-number")[:10])
    environments = environments_with_last_deploys(project)
    # Where each deploy under way stands: one query for the cards and the rows.
    waiting.describe([*(env.last_deploy for env in environments), *recent])
    return {
        "environments": environments,
        "live": live_by_environment(environments),
        "recent_deploys": recent,
        "setup_missing": missing_steps(project),
        "no_deploys": recent_no_deploys(project),
        "gates": gate_views.overview_gates(project),  # kept TTL seconds: windows start on time
        "tab": "overview",
    }
