"""Delivery metrics of a project (or one environment), per week, as DORA defines its four keys
(dora.dev), in herokucd's terms:

- Deployment frequency: succeeded deploys per week.
- Lead time for changes: from the deployed commit's commit time to the deploy's success,
  averaged over the week's succeeded deploys whose commit time is known (`Deploy.commit_at`,
  read from the project's mirror when the deploy succeeds: `record_commit_times`).
- Change failure rate: of the week's changes (deploys that ended, rollbacks aside), the share
  that failed, or whose next deploy to the same environment, begun within the window
  (FAILURE_WINDOW), was a rollback, a failed deploy or a hotfix (a branch named hotfix...).
- Time to restore: from a failed deploy ending an environment's good run to the next deploy of
  that environment that succeeded, averaged per week.

Three queries whatever the history's size, grouped by week in the database. Weeks and durations
are computed with the database's own arithmetic (`Seconds`): SQLite's julianday(), PostgreSQL's
EXTRACT(EPOCH ...), never a Python function called per row.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, timedelta

from django.db.models import (
    Avg,
    BooleanField,
    Case,
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Floor
from django.utils import timezone

from deploys.models import Deploy, State, Trigger

log = logging.getLogger(__name__)

PERIODS = {4: "4 weeks", 12: "12 weeks", 26: "26 weeks", 52: "52 weeks"}
DEFAULT_WEEKS = 12
FAILURE_WINDOW = timedelta(hours=24)
HOTFIX = "hotfix"
WEEK_SECONDS = 7 * 86400


class Seconds(Func):
    """Seconds from the second expression (a moment) to the first, in the database."""

    output_field = FloatField()
    arity = 2

    def as_sql(self, compiler, connection, **extra):
        return super().as_sql(
            compiler,
            connection,
            template="EXTRACT(EPOCH FROM (%(expressions)s))",
            arg_joiner=" - ",
            **extra,
        )

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s)) * 86400.0)",
            arg_joiner=") - julianday(",
            **extra,
        )


@dataclass
class Week:
    start: object
    deploys: int = 0
    lead_time: timedelta | None = None
    changes: int = 0
    failed_changes: int = 0
    restores: int = 0
    restore_time: timedelta | None = None

    @property
    def failure_rate(self) -> int | None:
        return round(100 * self.failed_changes / self.changes) if self.changes else None


def weeks_of(project, environment=None, weeks=DEFAULT_WEEKS, now=None) -> list[Week]:
    """The last `weeks` weeks (Monday to Sunday, UTC), oldest first."""
    now = (now or timezone.now()).astimezone(UTC)
    this_monday = (now - timedelta(days=now.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    table = [Week(this_monday - timedelta(weeks=n)) for n in range(weeks - 1, -1, -1)]
    deploys = Deploy.objects.filter(project=project, finished_at__gte=table[0].start)
    if environment is not None:
        deploys = deploys.filter(environment=environment)
    start = table[0].start
    _frequency_and_lead_time(deploys, table, start)
    _failure_rate(deploys, table, start)
    _restore_time(deploys, table, start)
    return table


def _by_week(rows, start):
    """`rows` grouped by their week: its index in the table (0: the oldest week)."""
    since = Seconds(F("finished_at"), Value(start))
    index = Cast(Floor(since / WEEK_SECONDS), output_field=IntegerField())
    return rows.annotate(week=index).values("week")


def _rows(rows, table):
    for row in rows:
        if 0 <= row["week"] < len(table):
            yield table[row["week"]], row


def _seconds(value):
    return None if value is None else timedelta(seconds=round(value))


def _frequency_and_lead_time(deploys, table, start):
    lead = Seconds(F("finished_at"), F("commit_at"))
    succeeded = _by_week(deploys.filter(state=State.SUCCEEDED), start)
    rows = succeeded.annotate(n=Count("pk"), lead=Avg(lead, filter=Q(commit_at__isnull=False)))
    for week, row in _rows(rows, table):
        week.deploys, week.lead_time = row["n"], _seconds(row["lead"])


def _same_environment():
    """The deploys of the outer deploy's environment that ran or will run (canceled ones
    aside), in the order of the (project, environment, -number) index: an ORDER BY number
    LIMIT 1 on them reads one or two index entries, never the environment's whole history."""
    return Deploy.objects.filter(
        project_id=OuterRef("project_id"), environment_id=OuterRef("environment_id")
    ).exclude(state=State.CANCELED)


def _failure_rate(deploys, table, start):
    """The deploy that came next to each change's environment (index probes, as the project
    page's), and whether it fixed something: a rollback, a failure or a hotfix, begun within the
    window."""
    following = _same_environment().filter(number__gt=OuterRef("number")).order_by("number")
    fixes = Case(
        When(Q(trigger=Trigger.ROLLBACK) | Q(state=State.FAILED), then=Value(True)),
        When(branch__startswith=HOTFIX, then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )
    changes = (
        deploys.filter(state__in=[State.SUCCEEDED, State.FAILED])
        .exclude(trigger=Trigger.ROLLBACK)
        .annotate(
            next_fixes=Subquery(following.annotate(fixes=fixes).values("fixes")[:1]),
            next_after=Seconds(Subquery(following.values("created_at")[:1]), F("finished_at")),
        )
    )
    fixed = Q(next_fixes=True, next_after__lte=FAILURE_WINDOW.total_seconds())
    rows = _by_week(changes, start).annotate(
        n=Count("pk"), failed=Count("pk", filter=Q(state=State.FAILED) | fixed)
    )
    for week, row in _rows(rows, table):
        week.changes, week.failed_changes = row["n"], row["failed"]


def _restore_time(deploys, table, start):
    before = _same_environment().filter(number__lt=OuterRef("number")).order_by("-number")
    restored = Deploy.objects.filter(
        environment_id=OuterRef("environment_id"),
        state=State.SUCCEEDED,
        number__gt=OuterRef("number"),
    )
    failures = deploys.filter(state=State.FAILED).annotate(
        before=Subquery(before.values("state")[:1]),
        restored_at=Subquery(restored.order_by("number").values("finished_at")[:1]),
    )
    outages = failures.exclude(before=State.FAILED).filter(restored_at__isnull=False)
    took = Seconds(F("restored_at"), F("finished_at"))
    for week, row in _rows(_by_week(outages, start).annotate(n=Count("pk"), took=Avg(took)), table):
        week.restores, week.restore_time = row["n"], _seconds(row["took"])


def totals(weeks: list[Week]) -> dict:
    """The period's figures beside the charts."""
    deploys = sum(w.deploys for w in weeks)
    changes = sum(w.changes for w in weeks)
    failed = sum(w.failed_changes for w in weeks)
    return {
        "deploys": deploys,
        "per_week": round(deploys / len(weeks), 1) if weeks else 0,
        "lead_time": _mean([w.lead_time for w in weeks], [w.deploys for w in weeks]),
        "failure_rate": round(100 * failed / changes) if changes else None,
        "changes": changes,
        "failed_changes": failed,
        "restore_time": _mean([w.restore_time for w in weeks], [w.restores for w in weeks]),
        "restores": sum(w.restores for w in weeks),
    }


def _mean(values, counts):
    pairs = [(v, n) for v, n in zip(values, counts, strict=True) if v is not None and n]
    total = sum(n for _, n in pairs)
    if not total:
        return None
    return sum((v * n for v, n in pairs), timedelta()) / total


# -- Commit times ------------------------------------------------------------------------------


def record_commit_times(deploy_ids) -> None:
    """Store the commit time of those deploys that just succeeded (the start of their lead
    time), from the mirror; never raises (a missing time leaves the deploy out of lead time)."""
    from deploys import outgoing  # it reads the mirror, which imports the models

    try:
        done = Deploy.objects.filter(
            pk__in=deploy_ids, state=State.SUCCEEDED, commit_at__isnull=True
        ).select_related("project")
        for deploy in done:
            when = outgoing.commit_time(deploy.project, deploy.sha or deploy.release_commit)
            if when is not None:
                Deploy.objects.filter(pk=deploy.pk).update(commit_at=when)
    except Exception:
        log.exception("Could not read commit times of %s", deploy_ids)
