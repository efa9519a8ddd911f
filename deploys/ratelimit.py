"""Heroku's git rate limit: 75 git requests per rolling hour per user and app (docs/heroku.md §5).

herokucd keeps a ledger (`GitRequest` rows, shared by every worker through the database) of the
git requests its pushes made per (key, app); the key is `HerokuCredential.key_hash`, so projects
sharing a key share the ledger. A push costs 2 requests (info/refs, then receive-pack), as
Heroku and the simulator count them.

The engine calls, around the push:
- `before_push(deploy, credential)`: raises `DeferDeploy(until)` when a push now would go over
  the limit, or while Heroku's last 429 cools down; the deploy waits in the queue until then.
- `after_push(deploy, credential, error="")`: records the push; with the error text of a failed
  push that Heroku refused as rate limited (429, "Too many requests for this Git repo"), it
  remembers to back off and raises `DeferDeploy`, so the deploy waits instead of failing.

Only one deploy runs per app at a time (a database constraint), so checking and recording
need no lock: nobody else pushes to the same app in between.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max, Min, Q, Sum
from django.utils import timezone

from deploys.trigger_models import GitRequest

PUSH_COST = 2
RATE_LIMITED = re.compile(r"\b429\b|Too many requests for this Git repo", re.IGNORECASE)


class DeferDeploy(Exception):  # a signal to the job, not an error
    def __init__(self, until):
        super().__init__(f"deferred until {until:%H:%M}")
        self.until = until


def limit() -> int:
    return getattr(settings, "HEROKU_GIT_RATE_LIMIT", 75)


def window() -> timedelta:
    return timedelta(seconds=getattr(settings, "HEROKU_GIT_RATE_WINDOW", 3600))


def backoff_base() -> timedelta:
    # Heroku "denies Git requests until request levels drop below the limit for a few minutes".
    return timedelta(seconds=getattr(settings, "HEROKU_GIT_BACKOFF", 300))


@dataclass
class Budget:
    limit: int
    used: int
    next_free: datetime | None  # when the oldest counted request leaves the window
    retry_at: datetime | None  # Heroku said 429: nothing before this
    environment: object = None

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


def _ledger(key_hash, app_name):
    return GitRequest.objects.filter(key_hash=key_hash, app_name=app_name)


def budget(key_hash, app_name, *, environment=None, now=None) -> Budget:
    now = now or timezone.now()
    counted = Q(made_at__gt=now - window())
    found = _ledger(key_hash, app_name).aggregate(
        used=Sum("requests", filter=counted, default=0),
        oldest=Min("made_at", filter=counted & Q(requests__gt=0)),
        retry_at=Max("retry_at"),
    )
    return Budget(
        limit=limit(),
        used=found["used"],
        next_free=found["oldest"] + window() if found["oldest"] else None,
        retry_at=found["retry_at"],
        environment=environment,
    )


def free_at(key_hash, app_name, cost, now) -> datetime:
    """The first time `cost` more requests fit in the window."""
    counted = _ledger(key_hash, app_name).filter(made_at__gt=now - window(), requests__gt=0)
    over = sum(counted.values_list("requests", flat=True)) + cost - limit()
    for made_at, requests in counted.order_by("made_at").values_list("made_at", "requests"):
        over -= requests
        if over <= 0:
            return made_at + window()
    return now


def next_push_at(key_hash, app_name, now=None) -> datetime | None:
    """When a push of `app_name` with that key may go: None when it may now. A deferred deploy's
    page says this time too (deploys/waiting.py)."""
    now = now or timezone.now()
    found = budget(key_hash, app_name, now=now)
    if found.retry_at and found.retry_at > now:
        return found.retry_at
    if found.used + PUSH_COST > found.limit:
        return free_at(key_hash, app_name, PUSH_COST, now)
    return None


def before_push(deploy, credential):
    until = next_push_at(credential.key_hash, deploy.app_name)
    if until is not None:
        raise DeferDeploy(until)
    return None


def forget_old(now=None) -> int:
    """Drop the ledger's rows older than two windows, which count for nothing any more (the
    workers' maintenance, every minute; no deploy waits for it). How many."""
    now = now or timezone.now()
    return GitRequest.objects.filter(made_at__lte=now - 2 * window()).delete()[0]


def after_push(deploy, credential, error: str = ""):
    """Record the push; raise DeferDeploy when Heroku refused it as rate limited."""
    if error and RATE_LIMITED.search(error):
        until = timezone.now() + _backoff(deploy)
        GitRequest.objects.create(
            key_hash=credential.key_hash,
            app_name=deploy.app_name,
            requests=0,
            retry_at=until,
            deploy=deploy,
        )
        raise DeferDeploy(until)
    record_push(deploy, credential)


def record_push(deploy, credential, requests=PUSH_COST):
    GitRequest.objects.create(
        key_hash=credential.key_hash, app_name=deploy.app_name, requests=requests, deploy=deploy
    )


def _backoff(deploy) -> timedelta:
    """Twice as long for each 429 this deploy met already, at most the window."""
    refusals = GitRequest.objects.filter(deploy=deploy, retry_at__isnull=False).count()
    return min(backoff_base() * (2**refusals), window())
