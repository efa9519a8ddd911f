"""Required approvals: a deploy of a protected environment waits until enough people approve it.

1. services.request_deploy creates it waiting for approval (State.WAITING, never claimed by a
   worker) with `approval_deadline`, then `announce` tells the environment's notification
   targets and schedules `expire` at the deadline.
2. `decide` records one person's approval or rejection with their comment (audited), in a
   transaction that locks the deploy's row: a rejection cancels it; the approval that makes
   the count starts it (waiting -> queued, Deploy.approve_start) unless a lock or a freeze
   window holds it now (gates.check), and then nothing is saved and the approver is told.
3. A deploy still waiting at its deadline is canceled as expired, by the job `announce`
   scheduled, and by the workers' maintenance every minute should that job be lost.

Approvals belong to their deploy: a newer deploy supersedes a waiting one (cancels it) and
waits for its own.
"""

import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from deploys import gates, jobs, notifications
from deploys.models import Deploy, DeployApproval, State, Trigger
from projects import audit
from projects.models import Membership

log = logging.getLogger(__name__)


class ApprovalRefused(Exception):
    """This approval or rejection cannot be recorded; str() says why."""


def deadline(environment):
    return timezone.now() + timedelta(hours=max(1, environment.approval_hours))


def who_may_approve(environment) -> str:
    """In words, for the pages: "2 approvals from admins (not the person who started it)"."""
    named = [user.get_username() for user in environment.approvers.all()]
    who = ", ".join(named) if named else environment.get_approver_role_display().lower()
    not_self = "" if environment.self_approval else " (not the person who started it)"
    return f"{who}{not_self}"


def problem(deploy, user) -> str:
    """Why `user` may not approve or reject `deploy` ("" when they may)."""
    if deploy.state != State.WAITING:
        return "This deploy is not waiting for approval."
    if deploy.approval_deadline and deploy.approval_deadline <= timezone.now():
        return "This deploy's time to be approved is over: it expires."
    environment = deploy.environment
    if environment is None:
        return f"The environment {deploy.environment_name} no longer exists."
    if not environment.self_approval:
        if deploy.triggered_by_id == user.pk:
            return "You started this deploy: someone else must approve it."
        if _auto_promoted_from(deploy, user):
            return "You started the deploy this promotes: someone else must approve it."
    if deploy.approvals.filter(user=user).exists():
        return "You have already approved or rejected this deploy."
    return _not_an_approver(environment, user)


def _auto_promoted_from(deploy, user) -> bool:
    """Whether `deploy` is an auto-promotion (herokucd started it, nobody's name on it) of a
    deploy `user` started, through any chain of auto-promotions: they chose that code."""
    seen = set()
    while (
        deploy.trigger == Trigger.PROMOTION
        and deploy.triggered_by_id is None
        and deploy.promoted_from_id is not None
        and deploy.pk not in seen
    ):
        seen.add(deploy.pk)
        deploy = Deploy.objects.only("trigger", "triggered_by", "promoted_from").get(
            pk=deploy.promoted_from_id
        )
        if deploy.triggered_by_id == user.pk:
            return True
    return False


def _not_an_approver(environment, user) -> str:
    named = list(environment.approvers.values_list("pk", flat=True))
    if named:
        return "" if user.pk in named else "Only the named approvers may approve this deploy."
    membership = Membership.objects.filter(project_id=environment.project_id, user=user).first()
    if membership is None or not membership.allows(environment.approver_role):
        role = environment.get_approver_role_display().lower()
        return f"Only {role} of the project may approve deploys to {environment.name}."
    return ""


def decide(deploy, user, approved: bool, comment: str) -> DeployApproval:
    """Record `user`'s approval (or rejection) of `deploy`; ApprovalRefused says why not."""
    comment = comment.strip()
    if not approved and not comment:
        raise ApprovalRefused("Say why you reject it: the comment is what the others see.")
    with transaction.atomic():
        # The deploy's row only (`of`): its environment may be gone (a nullable join).
        locked = Deploy.objects.select_for_update(of=("self",)).select_related("environment")
        deploy = locked.get(pk=deploy.pk)
        why_not = problem(deploy, user)
        if why_not:
            raise ApprovalRefused(why_not)
        try:
            with transaction.atomic():
                made = deploy.approvals.create(user=user, approved=approved, comment=comment[:1000])
        except IntegrityError:
            raise ApprovalRefused("You have already approved or rejected this deploy.") from None
        _audit(deploy, user, made)
        if not approved:
            deploy.end_waiting(f"Rejected by {user.get_username()}: {comment}")
        elif (
            deploy.approvals.filter(approved=True).count() >= deploy.environment.required_approvals
        ):
            _start(deploy)
    return made


def _audit(deploy, user, made):
    action = "deploy.approved" if made.approved else "deploy.rejected"
    details = {"number": deploy.number, "environment": deploy.environment_name}
    audit.record(deploy.project, user, action, comment=made.comment, **details)


def _start(deploy):
    """The last approval: queued now, unless a lock or freeze window holds it (an admin's
    override, given when the deploy was requested, still lifts them)."""
    decision = gates.check(deploy.environment, trigger=deploy.trigger)
    if decision.held and not deploy.override_reason:
        raise ApprovalRefused(
            f"{decision.why_not} Approve it again once that is over; nothing was recorded."
        )
    if deploy.approve_start():
        transaction.on_commit(lambda: jobs.enqueue(deploy), robust=True)


def announce(deploy) -> None:
    """Tell the environment's notification targets that `deploy` waits, and schedule its
    expiry at its deadline. Never raises: the workers' maintenance expires it anyway."""
    try:
        notifications.deploy_waiting(deploy)
        options = {"job_timeout": 60, "description": f"expire approval of deploy #{deploy.number}"}
        jobs.get_queue().enqueue_at(deploy.approval_deadline, expire, deploy.pk, **options)
    except Exception:
        log.exception("Could not announce deploy %s waiting for approval", deploy.pk)


def expire(deploy_id: int) -> str:
    """The scheduled job: cancel the deploy if it still waits at its deadline."""
    deploy = Deploy.objects.select_related("project").filter(pk=deploy_id).first()
    if deploy is None or deploy.state != State.WAITING:
        return "not waiting"
    if deploy.approval_deadline and deploy.approval_deadline > timezone.now():
        return "not yet"
    hours = deploy.environment.approval_hours if deploy.environment else None
    within = f" within {hours} hour{'s' if hours != 1 else ''}" if hours else ""
    if not deploy.end_waiting(f"Expired: not approved{within}."):
        return "not waiting"
    audit.record(deploy.project, None, "deploy.approval_expired", number=deploy.number)
    return "expired"


def expire_waiting() -> list[int]:
    """Every deploy past its deadline, expired (the workers' maintenance); their ids."""
    due = Deploy.objects.filter(state=State.WAITING, approval_deadline__lte=timezone.now())
    return [pk for pk in due.values_list("pk", flat=True) if expire(pk) == "expired"]
