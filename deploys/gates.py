"""May a deploy to this environment start now, and if not, why: the one decision (`check`).

Three gates stand between a request and a queued deploy:

- a lock (projects.models.EnvironmentLock) holds every deploy but a rollback;
- a freeze window (deploys/freeze.py) holds every deploy but a rollback while it covers now
  (a rollback puts back code that ran before: it is how an incident ends, and it is what locks
  an environment after it);
- required approvals (deploys/approvals.py): the deploy is created, but waits for approval.

A lock or a freeze window can be overridden by an admin of the project, with a reason, from
the Deploy form; a webhook never overrides. `check` only reads: the deploy paths (webhooks,
the Deploy form, retry, promotion, rollback: all through services.request_deploy) act on its
answer, and a dry run can ask it without changing anything. Locking and unlocking are below.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from deploys import freeze
from deploys.models import Deploy, Trigger
from deploys.trigger_models import Outcome, WebhookEvent
from projects import audit, pagecache
from projects.models import EnvironmentLock, Membership, Role

LOCK, FREEZE = "lock", "freeze"
NEEDS_REASON = "An override needs a reason: say why this deploy cannot wait."
ADMINS_ONLY = "Only an admin of the project can override a lock or a freeze window."


@dataclass(frozen=True)
class Hold:
    """Something that keeps deploys from starting now."""

    kind: str  # LOCK or FREEZE
    reason: str  # in the user's words: "locked by alice: release in progress"
    until: datetime | None = None  # when it ends by itself (a freeze window's end)


@dataclass(frozen=True)
class Decision:
    """What `check` found. `holds`: what holds deploys now; `approvals`: how many approvals a
    deploy needs before it starts; `override`: the reason of an admin's override that lifts the
    holds (set only when it may); `refused`: why the override asked for cannot be given."""

    holds: tuple[Hold, ...] = ()
    approvals: int = 0
    override: str = ""
    refused: str = ""

    @property
    def held(self) -> bool:
        """A lock or freeze window holds the deploy (no valid override lifts it)."""
        return bool(self.holds) and not self.override

    @property
    def may_start_now(self) -> bool:
        return not self.refused and not self.held and not self.approvals

    @property
    def why_not(self) -> str:
        """ "" when it may start now; else the sentence pages and webhook deliveries show."""
        if self.refused:
            return self.refused
        if self.held:
            reasons = (hold.reason.rstrip(".") for hold in self.holds)
            return "Not deployed: " + "; ".join(reasons) + "."
        if self.approvals:
            plural = "s" if self.approvals > 1 else ""
            return f"Waits for {self.approvals} approval{plural} before it starts."
        return ""


def check(environment, *, trigger=Trigger.MANUAL, user=None, override=None, at=None) -> Decision:
    """May a deploy of `environment` started by `trigger` (and `user`) start at `at` (now)?

    `override`: None when no override is asked for; else the reason an admin gives to start it
    despite a lock or freeze window (blank: refused, NEEDS_REASON). Reads only, never writes.
    """
    at = at or timezone.now()
    holds = ()
    if trigger != Trigger.ROLLBACK:
        holds = tuple(filter(None, [_lock_hold(environment), _freeze_hold(environment, at)]))
    decision = Decision(holds=holds, approvals=environment.required_approvals)
    if override is None or not holds:
        return decision
    refused = _override_refused(environment, trigger, user, override)
    if refused:
        return Decision(holds=holds, approvals=decision.approvals, refused=refused)
    return Decision(holds=holds, approvals=decision.approvals, override=override.strip())


def _lock_hold(environment) -> Hold | None:
    lock = EnvironmentLock.objects.select_related("locked_by").filter(environment=environment)
    lock = lock.first()
    if lock is None:
        return None
    return Hold(LOCK, f"{environment.name} is locked by {lock.by_name}: {lock.reason}")


def _freeze_hold(environment, at) -> Hold | None:
    window, until = freeze.covering(freeze.windows_for(environment), at)
    if window is None:
        return None
    ends = freeze.moment(until, window.time_zone)
    return Hold(FREEZE, f"freeze window “{window.title}” until {ends}", until)


def _override_refused(environment, trigger, user, override) -> str:
    if trigger == Trigger.WEBHOOK or user is None or not is_admin(environment, user):
        return ADMINS_ONLY
    if not override.strip():
        return NEEDS_REASON
    return ""


def is_admin(environment, user) -> bool:
    membership = Membership.objects.filter(project_id=environment.project_id, user=user).first()
    return membership is not None and membership.allows(Role.ADMIN)


# Locks -----------------------------------------------------------------------------------------


class LockError(Exception):
    """The lock or unlock cannot be done; str() says why."""


def lock(environment, user, reason: str, by_rollback=False) -> EnvironmentLock:
    """Lock `environment` with `reason` (audited). Refused when locked already or no reason."""
    reason = reason.strip()
    if not reason:
        raise LockError("Say why you lock it: the reason is what others see on every held deploy.")
    try:
        with transaction.atomic():
            made = EnvironmentLock.objects.create(
                environment=environment,
                reason=reason[:500],
                locked_by=user,
                by_rollback=by_rollback,
            )
    except IntegrityError:
        raise LockError(f"{environment.name} is locked already.") from None
    pagecache.touch(environment.project_id)
    details = {"environment": environment.name, "reason": made.reason}
    audit.record(environment.project, user, "environment.locked", **details)
    return made


def unlock(environment, user) -> bool:
    """Unlock `environment` (audited); False when it was not locked."""
    lock = EnvironmentLock.objects.filter(environment=environment).first()
    if lock is None or not EnvironmentLock.objects.filter(pk=lock.pk).delete()[0]:
        return False
    pagecache.touch(environment.project_id)
    details = {"environment": environment.name, "reason": lock.reason}
    audit.record(environment.project, user, "environment.unlocked", **details)
    return True


def held_commit(environment):
    """The newest webhook delivery a lock or freeze window held for `environment` since its
    last deploy was requested, or None: what unlocking offers to deploy."""
    events = WebhookEvent.objects.filter(environment=environment, outcome=Outcome.HELD)
    last = Deploy.objects.filter(environment=environment).order_by("-number").first()
    if last is not None:
        events = events.filter(received_at__gt=last.created_at)
    return events.order_by("-received_at", "-pk").first()
