"""Why a queued deploy waits, and behind what, for the pages and the API.

A queued deploy runs once its Heroku app is free (one running deploy per app, whatever the
project) and no older queued deploy of the app comes first: those of its own project, and other
projects' whose app check matches their key (deploys/jobs.py `claim`, with
app_lock.same_app_waiting_before). The same facts, read here for any number of deploys in one
query, say where each queued deploy stands: behind the running deploy, behind queued ones, for a
worker to pick it up, or, put back in the queue by Heroku's git rate limit, until when.
"""

import html
from dataclasses import dataclass
from datetime import datetime

from django.db.models import BooleanField, Count, ExpressionWrapper, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.html import strip_tags

from deploys import ratelimit
from deploys.app_lock import CHECKED_FOR_ITS_KEY
from deploys.models import Deploy, DeployStep, State, StepState
from projects.models import HerokuCredential

UNDER_WAY = (State.QUEUED, State.RUNNING)
DONE_STEPS = (StepState.SUCCEEDED, StepState.FAILED, StepState.SKIPPED, StepState.CANCELED)


@dataclass
class Waiting:
    """Where a queued deploy stands in its app's queue."""

    deploy: Deploy
    running: Deploy | None  # the app's running deploy, of any project
    ahead: list[Deploy]  # the older queued deploys it waits for, oldest first
    until: datetime | None = None  # deferred: when Heroku's git rate limit lets it push

    @property
    def deferred(self) -> bool:
        """It started, and Heroku's git rate limit put it back in the queue before its push."""
        return self.deploy.started_at is not None

    @property
    def position(self) -> int:
        """1 when it goes next, once the running deploy (if any) is done."""
        return len(self.ahead) + 1

    @property
    def behind(self) -> list[Deploy]:
        """Every deploy it waits for: the running one first."""
        return [self.running, *self.ahead] if self.running else list(self.ahead)

    def fingerprint(self) -> tuple:
        """What its note shows, without the time that ticks: a change re-renders the note."""
        running = self.running
        shown = None
        if running is not None and running.project_id != self.deploy.project_id:
            shown = running.pk  # another project's: its steps are not this viewer's to follow
        elif running is not None:
            shown = (running.pk, running.current_step, running.step_count)
        return (shown, tuple(deploy.pk for deploy in self.ahead), self.deferred, self.until)


class Queues:
    """The running and queued deploys of some Heroku apps, oldest first: one query for all.

    Each knows its step (`current_step` of `step_count`) and whether another project's deploy
    would wait for it (`checked`)."""

    def __init__(self, app_names):
        self.by_app = {name: [] for name in app_names}
        self.by_pk = {}
        if not self.by_app:
            return
        found = Deploy.objects.filter(app_name__in=self.by_app, state__in=UNDER_WAY).order_by("pk")
        for deploy in _with_steps(found).only(*QUEUE_FIELDS):
            self.by_app[deploy.app_name].append(deploy)
            self.by_pk[deploy.pk] = deploy

    def running(self, app_name) -> Deploy | None:
        found = (d for d in self.by_app.get(app_name, ()) if d.state == State.RUNNING)
        return next(found, None)

    def waiting(self, deploy) -> Waiting | None:
        """Where `deploy` stands; None once it is no longer queued."""
        deploy = self.by_pk.get(deploy.pk)
        if deploy is None or deploy.state != State.QUEUED:
            return None
        ahead = [
            other
            for other in self.by_app[deploy.app_name]
            if other.state == State.QUEUED
            and other.pk < deploy.pk
            and (other.project_id == deploy.project_id or other.checked)
        ]
        return Waiting(deploy, self.running(deploy.app_name), ahead)


QUEUE_FIELDS = [
    "project",
    "number",
    "environment_name",
    "app_name",
    "state",
    "started_at",
    "created_at",
]


def _with_steps(deploys):
    steps = DeployStep.objects.filter(deploy=OuterRef("pk")).order_by().values("deploy")
    count = steps.annotate(n=Count("pk")).values("n")
    done = steps.filter(state__in=DONE_STEPS).annotate(n=Count("pk")).values("n")
    running = steps.filter(state=StepState.RUNNING).values("position")[:1]
    return deploys.annotate(
        checked=ExpressionWrapper(CHECKED_FOR_ITS_KEY, output_field=BooleanField()),
        step_count=Coalesce(Subquery(count), 0),
        current_step=Coalesce(Subquery(running), Subquery(done), 0),
    )


def describe(deploys) -> Queues | None:
    """Tell each deploy under way in `deploys` where it stands, in one query for them all:
    `.waiting` (a Waiting) on each queued one, `.current_step` and `.step_count` on each
    running one. None (and no query) when none is under way."""
    shown = [deploy for deploy in deploys if deploy is not None and deploy.state in UNDER_WAY]
    if not shown:
        return None
    queues = Queues({deploy.app_name for deploy in shown})
    for deploy in shown:
        found = queues.by_pk.get(deploy.pk)
        deploy.waiting = queues.waiting(deploy)
        deploy.current_step = found.current_step if found else 0
        deploy.step_count = found.step_count if found else 0
    return queues


def waiting_of(deploy) -> Waiting | None:
    """Where one queued deploy stands, with until when a deferred one waits."""
    describe([deploy])
    waiting = getattr(deploy, "waiting", None)
    if waiting is not None and waiting.deferred:
        waiting.until = rate_limit_until(deploy)
    return waiting


def rate_limit_until(deploy) -> datetime | None:
    """When Heroku's git rate limit lets the deploy push; None when it may now."""
    key_hash = HerokuCredential.objects.filter(project_id=deploy.project_id)
    key_hash = key_hash.values_list("key_hash", flat=True).first()
    return ratelimit.next_push_at(key_hash, deploy.app_name) if key_hash else None


def as_json(waiting, project, visible) -> dict | None:
    """Where a queued deploy stands, for the API and the live page: its place, what it waits
    for, the deploys ahead (another project's named only when that project is in `visible`,
    {project id: project} of the viewer's) and the page's sentence as plain text."""
    if waiting is None:
        return None
    from deploys.templatetags.queue_tags import queue_sentence

    kind = "rate_limit" if waiting.deferred else "deploys" if waiting.behind else "worker"
    text = html.unescape(strip_tags(queue_sentence(waiting, project, visible)))
    return {
        "position": waiting.position,
        "waiting_for": kind,
        "until": waiting.until.isoformat() if waiting.until else None,
        "behind": [_behind_json(deploy, project, visible) for deploy in waiting.behind],
        "text": text,
    }


def _behind_json(deploy, project, visible):
    data = {
        "state": deploy.state,
        "app": deploy.app_name,
        "started_at": deploy.started_at.isoformat() if deploy.started_at else None,
    }
    shown = project if deploy.project_id == project.pk else visible.get(deploy.project_id)
    if shown is None:
        return data | {"project": None}  # another project's: no more than that it is there
    data |= {
        "project": shown.slug,
        "number": deploy.number,
        "environment": deploy.environment_name,
        "path": reverse("deploy", args=[shown.slug, deploy.number]),
    }
    if deploy.state == State.RUNNING:
        data |= {"step": deploy.current_step, "steps": deploy.step_count}
    return data
