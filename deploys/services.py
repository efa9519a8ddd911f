"""What the rest of herokucd asks of the deploy engine: request, cancel, retry, roll back."""

import contextlib

from django.db import IntegrityError, transaction
from django.db.models import Max

from deploys import approvals, gates, jobs, live
from deploys.models import Deploy, State, Trigger
from herokucd.heroku import HerokuClient, HerokuError, InvalidParams, NotFound
from projects import audit, pagecache
from projects.models import Project

NUMBER_ATTEMPTS = 5
QUEUE_DOWN = (
    "herokucd cannot queue deploys right now (Redis is unreachable); nothing was started. "
    "Try again in a moment."
)


class DeployError(Exception):
    """The deploy cannot be done; str() tells the user why and what to do."""


class OverrideRefused(DeployError):
    """An override of a lock or freeze window that may not be given (gates.NEEDS_REASON,
    gates.ADMINS_ONLY)."""


class Held(DeployError):
    """A lock or freeze window holds the deploy (deploys/gates.py); `decision` says which."""

    def __init__(self, decision):
        super().__init__(decision.why_not)
        self.decision = decision


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
    override=None,
) -> Deploy:
    """Create a queued deploy of `environment` and queue its job once the row is committed.

    The gates decide first (gates.check): a lock or freeze window refuses it (Held) unless an
    admin overrides it with a reason (`override`, audited); an environment that requires
    approvals gets the deploy waiting for them (deploys/approvals.py) instead of queued.
    Older queued or waiting deploys of the same environment are superseded (canceled) by it.
    While Redis is unreachable nothing is created: DeployError says so (`check_queue=False`:
    the caller asked already, as the webhook does before it records the delivery).
    """
    decision = gates.check(environment, trigger=trigger, user=user, override=override)
    if decision.refused:
        raise OverrideRefused(decision.refused)
    if decision.held:
        raise Held(decision)
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
        "override_reason": decision.override[:500],
    }
    if decision.approvals:
        fields |= {"state": State.WAITING, "approval_deadline": approvals.deadline(environment)}
    with transaction.atomic():
        deploy = _create_numbered(fields)
        if decision.override:
            _audit_override(deploy, user, decision)
    if deploy.state == State.WAITING:
        transaction.on_commit(lambda: approvals.announce(deploy), robust=True)
        return deploy
    # Robust: Redis failing after the commit must not fail the request. The deploy stays
    # queued and the workers' maintenance (jobs.requeue_orphans) queues it again.
    transaction.on_commit(lambda: jobs.enqueue(deploy), robust=True)
    return deploy


def _audit_override(deploy, user, decision):
    held = "; ".join(hold.reason for hold in decision.holds)
    details = {"number": deploy.number, "environment": deploy.environment_name, "held": held}
    audit.record(deploy.project, user, "deploy.override", reason=decision.override, **details)


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
    pagecache.touch(deploy.project_id)  # a new deploy: the project's pages list it
    Deploy.objects.supersede_queued(deploy)
    return deploy


def cancel_deploy(deploy: Deploy, user) -> None:
    """A queued deploy is canceled now; a running one stops within seconds, then cleans up."""
    reason = f"Canceled by {user.get_username()}."
    if not deploy.cancel(reason) and not deploy.request_cancel(reason):
        raise DeployError("This deploy has already finished.")


def retry_deploy(deploy: Deploy, user) -> Deploy:
    """A new deploy of the same commit to the same environment; for a promotion, a new
    promotion of the same deploy's release (promoting builds nothing: a push would)."""
    environment = _environment_of(deploy)
    if deploy.trigger == Trigger.PROMOTION and deploy.promoted_from is not None:
        from deploys.promotion import request_promotion  # it queues through this module

        detail = f"Retry of #{deploy.number}"
        return request_promotion(deploy.promoted_from, user, environment.pk, detail=detail)
    return request_deploy(
        environment,
        sha=deploy.sha,
        branch=deploy.branch,
        trigger=Trigger.RETRY,
        user=user,
        detail=f"Retry of #{deploy.number}",
        retry_of=deploy,
    )


def rollback_deploy(deploy: Deploy, user, version, shown_app=None, restore=None) -> Deploy:
    """A deploy that puts back release `version` of the app (Heroku copies its code and config
    vars into a new release), started from `deploy`'s page. Heroku is asked first that it is
    a release of the app that can be rolled back to; the rollback deploy's commit is the one
    that release runs, so its page shows what it put live. `shown_app`: the app the
    confirmation named, refused when the environment has moved to another app since.
    `restore`: (backup name, typed app name) to restore the database from the backup taken
    before the first migration since that release (live.restore_offers), checked first."""
    environment = _environment_of(deploy)
    app = environment.app_name
    if shown_app is not None and shown_app != app:
        raise DeployError(
            f"The environment {environment.name} now deploys to {app}, not {shown_app} as the page "
            "said: look at the releases again before rolling back."
        )
    offer = _restore_offer(environment, _version(version), restore) if restore else None
    release, commit = _rollback_target(environment, _version(version))
    if offer is not None:
        _check_backup(environment, offer.backup_name)
    made = Deploy.objects.filter(
        project_id=deploy.project_id, app_name=app, release_version=release["version"]
    )
    made = made.order_by("-number").first()
    detail = f"Rollback to v{release['version']}" + (f" (deploy #{made.number})" if made else "")
    if offer is not None:
        detail += f", database restored from {offer.backup_name}"
    with transaction.atomic():
        rollback = request_deploy(
            environment,
            sha=commit,
            branch=made.branch if made else "",
            trigger=Trigger.ROLLBACK,
            user=user,
            detail=detail,
            rollback_of=deploy,
        )
        rollback.record(rollback_release_id=release["id"], rollback_version=release["version"])
        if offer is not None:
            rollback.record(restore_backup_name=offer.backup_name, restore_before=offer.first)
        if environment.lock_after_rollback:
            _lock_after(rollback, user, environment)
    return rollback


def _lock_after(rollback, user, environment):
    """Lock the environment, so its next green build does not undo the rollback."""
    reason = (
        f"Rolled back to v{rollback.rollback_version} by deploy #{rollback.number}: unlock "
        "when the fix is ready."
    )
    with contextlib.suppress(gates.LockError):  # locked already: that lock holds it as well
        gates.lock(environment, user, reason, by_rollback=True)


def _check_backup(environment, name):
    """Heroku still has backup `name`: a backup expired since is refused before anything starts."""
    app = environment.app_name
    try:
        with HerokuClient(environment.project.heroku_credential.api_key, retries=1) as client:
            client.find_backup(app, name)
    except (NotFound, InvalidParams) as error:
        raise DeployError(
            f"{error} The database cannot be restored; nothing was started."
        ) from None
    except HerokuError as error:
        raise DeployError(
            f"Heroku could not be asked about backup {name} of {app} ({error}); nothing was "
            "started. Try again in a moment."
        ) from None


def _restore_offer(environment, version, restore):
    """The offer the confirmation showed for release `version`, when the typed app name
    confirms it; else DeployError, before anything is asked of Heroku or started."""
    backup_name, typed = restore
    app = environment.app_name
    offer = live.restore_offers(environment, [version]).get(version)
    if offer is None:
        raise DeployError(
            f"No migration ran since v{version}: there is no database to restore; nothing was "
            "started."
        )
    if not offer.backup_name:
        raise DeployError(
            f"No backup was taken before deploy #{offer.first.number}'s migration: the database "
            "cannot be restored; nothing was started."
        )
    if backup_name != offer.backup_name:
        raise DeployError(
            f"The backup to restore for v{version} is {offer.backup_name}, not {backup_name}: "
            "look at the page again; nothing was started."
        )
    if (typed or "").strip() != app:
        raise DeployError(
            f"To restore the database, type the app name {app} exactly; nothing was started."
        )
    return offer


def _version(value) -> int:
    try:
        return int(str(value).strip().removeprefix("v"))
    except ValueError:
        raise DeployError("Choose the release to roll back to from the list.") from None


def _rollback_target(environment, version) -> tuple[dict, str]:
    """Heroku's release `version` of the environment's app, and the commit it runs."""
    app = environment.app_name
    credential = getattr(environment.project, "heroku_credential", None)
    if credential is None:
        raise DeployError("This project has no Heroku API key: add one in its settings.")
    try:
        with HerokuClient(credential.api_key, retries=1) as client:  # a person waits
            release = client.release(app, version)
            _check_target(release, app)
            _check_offered(client, environment, version)
            return release, client.release_commit(app, release) or ""
    except NotFound:
        raise DeployError(
            f"v{version} is not a release of {app}: choose one from the list."
        ) from None
    except HerokuError as error:
        raise DeployError(
            f"Heroku could not be asked about release v{version} of {app} ({error}); nothing "
            "was started. Try again in a moment."
        ) from None


def _check_target(release, app):
    version = release["version"]
    if release.get("current"):
        raise DeployError(f"v{version} is what {app} runs now: choose an earlier release.")
    if not release.get("slug"):
        raise DeployError(f"v{version} of {app} has no code to roll back to.")
    if release.get("status") != "succeeded" or not release.get("eligible_for_rollback", True):
        raise DeployError(f"Heroku cannot roll {app} back to v{version}: choose another release.")


def _check_offered(client, environment, version):
    """Only what the chooser offers: a release one of the project's deploys made, or one of the
    app's newest releases made outside herokucd (live.outside_choices). Older releases can
    carry config vars rotated since (old credentials): they are not for a deployer to restore."""
    app = environment.app_name
    made = Deploy.objects.filter(
        project_id=environment.project_id, app_name=app, release_version=version
    )
    if made.exists():
        return
    recent = client.releases(app, limit=live.RELEASES_LISTED)
    if version not in {release["version"] for release in live.outside_choices(environment, recent)}:
        raise DeployError(
            f"v{version} of {app} is not one of the releases offered to roll back to: choose "
            "one from the list."
        )


def _environment_of(deploy: Deploy):
    if deploy.environment is None:
        raise DeployError(f"The environment {deploy.environment_name} no longer exists.")
    return deploy.environment
