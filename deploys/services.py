"""What the rest of herokucd asks of the deploy engine: request, cancel, retry, roll back."""

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from deploys import jobs
from deploys.models import Deploy, State, StepState, Trigger
from projects.models import Project

NUMBER_ATTEMPTS = 5
QUEUE_DOWN = (
    "herokucd cannot queue deploys right now (Redis is unreachable); nothing was started. "
    "Try again in a moment."
)


class DeployError(Exception):
    """The deploy cannot be done; str() tells the user why and what to do."""


def request_deploy(
    environment,
    *,
    sha="",
    branch="",
    trigger=Trigger.MANUAL,
    user=None,
    detail="",
    retry_of=None,
    rollback_of=None,
    check_queue=True,
) -> Deploy:
    """Create a queued deploy of `environment` and queue its job once the row is committed.

    Older queued deploys of the same environment are superseded (canceled) by it. While Redis
    is unreachable nothing is created: DeployError says so (`check_queue=False`: the caller
    asked already, as the webhook does before it records the delivery).
    """
    if check_queue:
        try:
            jobs.check_queue()
        except jobs.QueueUnavailable as error:
            raise DeployError(QUEUE_DOWN) from error
    fields = {
        "project_id": environment.project_id,
        "environment": environment,
        "environment_name": environment.name,
        "app_name": environment.app_name,
        "sha": sha,
        "branch": branch or ("" if sha else environment.project.default_branch),
        "trigger": trigger,
        "triggered_by": user,
        "trigger_detail": detail[:200],
        "retry_of": retry_of,
        "rollback_of": rollback_of,
    }
    deploy = _create_numbered(fields)
    # Robust: Redis failing after the commit must not fail the request. The deploy stays
    # queued and the workers' maintenance (jobs.requeue_orphans) queues it again.
    transaction.on_commit(lambda: jobs.enqueue(deploy), robust=True)
    return deploy


def _create_numbered(fields) -> Deploy:
    """The next number of the project; the project row lock (and the unique constraint, on
    databases without row locks) keeps two concurrent requests from taking the same one."""
    for attempt in range(NUMBER_ATTEMPTS):
        try:
            with transaction.atomic():
                return _create(fields)
        except IntegrityError:
            if attempt == NUMBER_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _create(fields) -> Deploy:
    Project.objects.select_for_update().filter(pk=fields["project_id"]).first()
    deploys = Deploy.objects.filter(project_id=fields["project_id"])
    number = (deploys.aggregate(last=Max("number"))["last"] or 0) + 1
    deploy = Deploy.objects.create(number=number, **fields)
    Deploy.objects.filter(environment=fields["environment"], state=State.QUEUED).exclude(
        pk=deploy.pk
    ).update(state=State.CANCELED, reason=f"superseded by #{number}", finished_at=timezone.now())
    return deploy


def cancel_deploy(deploy: Deploy, user) -> None:
    """A queued deploy is canceled now; a running one stops within seconds, then cleans up."""
    reason = f"Canceled by {user.get_username()}."
    queued = Deploy.objects.filter(pk=deploy.pk, state=State.QUEUED)
    if queued.update(state=State.CANCELED, reason=reason, finished_at=timezone.now()):
        # A deploy back in the queue (Heroku's git rate limit) has its planned steps: canceled.
        deploy.steps.filter(state=StepState.PENDING).update(state=StepState.CANCELED)
        deploy.refresh_from_db()
        return
    running = Deploy.objects.filter(pk=deploy.pk, state=State.RUNNING)
    if not running.update(cancel_requested=True, reason=reason):
        raise DeployError("This deploy has already finished.")
    deploy.refresh_from_db()


def retry_deploy(deploy: Deploy, user) -> Deploy:
    """A new deploy of the same commit to the same environment."""
    environment = _environment_of(deploy)
    return request_deploy(
        environment,
        sha=deploy.sha,
        branch=deploy.branch,
        trigger=Trigger.RETRY,
        user=user,
        detail=f"Retry of #{deploy.number}",
        retry_of=deploy,
    )


def rollback_deploy(deploy: Deploy, user) -> Deploy:
    """A deploy that puts back the Heroku release that was live before `deploy` ran."""
    environment = _environment_of(deploy)
    if not deploy.previous_release_id:
        raise DeployError(
            f"Deploy #{deploy.number} never reached Heroku, so there is nothing to roll back."
        )
    return request_deploy(
        environment,
        trigger=Trigger.ROLLBACK,
        user=user,
        detail=f"Rollback of #{deploy.number}",
        rollback_of=deploy,
        branch=deploy.branch,
    )


def _environment_of(deploy: Deploy):
    if deploy.environment is None:
        raise DeployError(f"The environment {deploy.environment_name} no longer exists.")
    return deploy.environment
