"""Rendered parts of project pages, kept by each web process until their project changes.

The project page and the deploy history read the newest deploys, environments and budgets: a
dozen queries and a few hundred template nodes that are the same for every viewer until a deploy
or a setting of the project changes. Each project has a revision in Redis that every such change
increments (`touch`, after the change commits); a page part is kept under its project's revision
and is rendered again once the revision moved on. So a change shows on the next page view,
whichever process or host made it.

- A part is kept at most `TTL` seconds, so its relative times ("3 minutes ago") and rate-limit
  budgets never drift further than that; a part showing a deploy still under way, whose
  duration grows, at most `UNDER_WAY_TTL` seconds. (Its state changing moves the revision on.)
- Redis unreachable: nothing is kept or served from here, every page is rendered afresh.
- Parts hold no CSRF token and nothing of one viewer: views key them by what varies (the role).
"""

import functools
import hashlib
import secrets
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.cache import caches
from django.db import transaction

TTL = 10.0
UNDER_WAY_TTL = 2.0
_KEY = "herokucd:project-revision:{}"


@dataclass(frozen=True)
class Part:
    """Rendered HTML, and whether a deploy it shows is under way (then it is kept briefly)."""

    html: str
    under_way: bool = False

    @property
    def ttl(self) -> float:
        return UNDER_WAY_TTL if self.under_way else TTL


def touch(project_id):
    """Mark the project's pages changed: now, and again once the current transaction commits.

    Now, so the transaction itself sees the change; again after the commit, because another
    process may have rendered the old content under the first new revision in between.
    """
    _increment(project_id)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: _increment(project_id), robust=True)


def part(project, name, vary, render) -> str:
    """The HTML of `render()` (a `Part`) for `project`, kept while the project is unchanged.

    `name` and `vary` (a string or tuple: page number, filters, role...) tell parts apart.
    """
    revisions = _revisions([project.pk])
    if revisions is None:
        return render().html
    key = _part_key(project.pk, revisions[0], name, vary)
    kept = caches["pages"].get(key)
    if kept is not None:
        return kept
    rendered = render()
    caches["pages"].set(key, rendered.html, rendered.ttl)
    return rendered.html


def parts(projects, name, vary, render) -> list[str]:
    """The HTML of part `name` of each project, as `part` keeps them, in two round trips for
    all: one for their revisions, one for the kept parts. `render(missing)` renders the others
    in one go, as {project pk: Part}."""
    revisions = _revisions([project.pk for project in projects])
    if revisions is None:
        rendered = render(projects) if projects else {}
        return [rendered[project.pk].html for project in projects]
    keys = {
        project.pk: _part_key(project.pk, revision, name, vary)
        for project, revision in zip(projects, revisions, strict=True)
    }
    kept = caches["pages"].get_many(keys.values())
    missing = [project for project in projects if keys[project.pk] not in kept]
    rendered = render(missing) if missing else {}
    for pk, done in rendered.items():
        caches["pages"].set(keys[pk], done.html, done.ttl)
    return [kept.get(keys[p.pk]) or rendered[p.pk].html for p in projects]


def _part_key(project_id, revision, name, vary) -> str:
    return f"part:{project_id}:{int(revision)}:{name}:{digest(vary)}"


def digest(value) -> str:
    """A short cache key for `value` (a string or tuple of plain values)."""
    return hashlib.blake2b(repr(value).encode(), digest_size=16).hexdigest()


@functools.cache
def _connection():
    # One client per process: its pool keeps connections open (and starts over after a fork).
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def _revisions(project_ids):
    """The revisions of these projects, in order; None without Redis."""
    if not project_ids:
        return []
    try:
        found = _connection().mget([_KEY.format(pk) for pk in project_ids])
    except redis.RedisError:
        return None
    revisions = [
        rev or _revision_after(pk, "get") for pk, rev in zip(project_ids, found, strict=True)
    ]
    return None if None in revisions else revisions


def _increment(project_id):
    _revision_after(project_id, "incr")


def _revision_after(project_id, command):
    """The revision after `command` ("get" or "incr"), in one round trip; None without Redis.

    A revision missing (never set, or Redis restarted empty) starts from a random number, so a
    part kept under an earlier revision can never be taken for a current one.
    """
    key = _KEY.format(project_id)
    try:
        with _connection().pipeline(transaction=False) as pipe:
            pipe.set(key, secrets.randbits(62), nx=True)
            getattr(pipe, command)(key)
            return pipe.execute()[-1]
    except redis.RedisError:
        return None  # parts kept by other processes expire within TTL
