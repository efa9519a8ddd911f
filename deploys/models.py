import logging

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone

# Django registers the models of the modules an app's models module imports: the app's other
# models live in these two, and are imported from them where used.
from deploys import github_models, live_models, scrub_models, trigger_models  # noqa: F401
from projects import pagecache
from projects.models import Environment, Project


class State(models.TextChoices):
    """Where a deploy is. Why it ended is `Deploy.reason`."""

    WAITING = "waiting", "Waiting for approval"  # deploys/approvals.py; never claimed
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


FINISHED_STATES = [State.SUCCEEDED, State.FAILED, State.CANCELED]


class Trigger(models.TextChoices):
    MANUAL = "manual", "Manual"
    WEBHOOK = "webhook", "Webhook"
    RETRY = "retry", "Retry"
    ROLLBACK = "rollback", "Rollback"
    PROMOTION = "promotion", "Promotion"


class Phase(models.TextChoices):
    """What a running deploy is doing, when it is not its steps (docs/deploys.md)."""

    STEPS = "", "Running its steps"
    CLEANING_UP = "cleaning_up", "Cleaning up"  # the reaper undoes a dead worker's changes


log = logging.getLogger(__name__)

# Sent after deploys moved to another state (`deploy_ids`), once their transaction commits
# (deploys/signals.py): GitHub deployment statuses and the commit time follow it.
moved = Signal()


def _moved(*deploy_ids) -> None:
    """Send `moved` after the commit; a receiver's error is its own (logged, never raised into
    the transition that moved the deploy)."""
    transaction.on_commit(lambda: _send_moved(deploy_ids))


def _send_moved(deploy_ids) -> None:
    for receiver, error in moved.send_robust(Deploy, deploy_ids=deploy_ids):
        if isinstance(error, Exception):
            log.error("%s failed after deploys %s moved: %r", receiver, deploy_ids, error)


class DeployQuerySet(models.QuerySet):
    def supersede_queued(self, by: "Deploy") -> int:
        """queued or waiting for approval -> canceled: the older such deploys of `by`'s
        environment; how many. As with `Deploy.cancel`, the planned steps of one back in the
        queue (the rate limit) end too. Approvals stay with their deploy: `by` needs its own."""
        pending = [State.QUEUED, State.WAITING]
        older = self.filter(environment_id=by.environment_id, state__in=pending).exclude(pk=by.pk)
        reason = f"superseded by #{by.number}"
        ids = list(older.values_list("pk", flat=True))
        if not ids:
            return 0
        with transaction.atomic():
            ended = self.filter(pk__in=ids, state__in=pending).update(
                state=State.CANCELED, reason=reason, finished_at=timezone.now()
            )
            # Only those this call ended: one claimed meanwhile keeps its steps.
            DeployStep.objects.filter(
                deploy__in=ids, deploy__state=State.CANCELED, deploy__reason=reason
            ).filter(state=StepState.PENDING).update(state=StepState.CANCELED)
        if ended:
            pagecache.touch(by.project_id)
            _moved(*ids)
        return ended


class Deploy(models.Model):
    """One run of the pipeline for one environment: the source of truth (RQ is plumbing).

    Its state changes only through the transition methods below (and
    `Deploy.objects.supersede_queued`), each a conditional UPDATE that returns whether it won
    and, when it did, marks the project's pages changed (`pagecache.touch`). The state diagram,
    with the method making each transition, is in docs/deploys.md.
    """

    project = models.ForeignKey(Project, models.CASCADE, related_name="deploys")
    number = models.PositiveIntegerField()  # per project, as in /projects/<slug>/deploys/<n>/
    environment = models.ForeignKey(
        Environment, models.SET_NULL, null=True, blank=True, related_name="deploys"
    )
    # Copied from the environment when created, so history survives later edits.
    environment_name = models.CharField(max_length=50)
    app_name = models.CharField(max_length=30)
    branch = models.CharField(max_length=255, blank=True)
    sha = models.CharField(max_length=40, blank=True)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANUAL)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    trigger_detail = models.CharField(max_length=200, blank=True)  # e.g. "GitHub workflow_run"
    retry_of = models.ForeignKey("self", models.SET_NULL, null=True, blank=True, related_name="+")
    rollback_of = models.ForeignKey(
        "self", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # A rollback's target: the Heroku release it puts back (its id, as Heroku's rollback wants).
    rollback_release_id = models.CharField(max_length=64, blank=True)
    rollback_version = models.PositiveIntegerField(null=True, blank=True)
    # A rollback that also restores the database: the backup it restores ("b012"), taken
    # before the migrating deploy `restore_before` (the chooser offers only that pairing).
    restore_backup_name = models.CharField(max_length=20, blank=True)
    restore_before = models.ForeignKey(
        "self", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # A promotion (Heroku pipelines): the succeeded deploy whose release it promotes, and that
    # release (app, id, version) as it was when the promotion was asked for.
    promoted_from = models.ForeignKey(
        "self", models.SET_NULL, null=True, blank=True, related_name="promotions"
    )
    promotion_source_app = models.CharField(max_length=30, blank=True)
    promotion_source_release_id = models.CharField(max_length=64, blank=True)
    promotion_source_version = models.PositiveIntegerField(null=True, blank=True)

    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    # Waiting for approval until then (deploys/approvals.py expires it).
    approval_deadline = models.DateTimeField(null=True, blank=True)
    # An admin's reason to start it despite a lock or freeze window (deploys/gates.py).
    override_reason = models.CharField(max_length=500, blank=True)
    reason = models.TextField(blank=True)  # why it did not succeed, in the user's words
    cancel_requested = models.BooleanField(default=False)
    phase = models.CharField(max_length=12, choices=Phase.choices, default=Phase.STEPS, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # the stale-deploy reaper reads it
    worker_name = models.CharField(max_length=200, blank=True)

    # When the deployed commit was committed (from the mirror, once it succeeded): the start of
    # its lead time for changes (deploys/metrics.py).
    commit_at = models.DateTimeField(null=True, blank=True)
    release_version = models.PositiveIntegerField(null=True, blank=True)
    release_commit = models.CharField(max_length=40, blank=True)  # what Heroku says it runs
    previous_release_id = models.CharField(max_length=64, blank=True)
    backup_name = models.CharField(max_length=20, blank=True)
    ran_migration = models.BooleanField(default=False)
    line_count = models.PositiveIntegerField(default=0)
    # What the pipeline changed on the app and must undo (maintenance on, formation before
    # scaling down), kept here so the stale-deploy reaper can undo it after a worker died.
    cleanup_state = models.JSONField(default=dict, blank=True)
    # Set by the UPDATE that ends the deploy, cleared once its notifications are queued: still
    # set when Redis was away, and the workers' maintenance queues them then (notifications.py).
    notify_pending = models.BooleanField(default=False)
    # The app as Heroku showed it after a failed or canceled deploy was cleaned up: live
    # release and commit, maintenance, formation, how the migration went (pipeline.end_state).
    end_state = models.JSONField(default=dict, blank=True)

    objects = DeployQuerySet.as_manager()

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="unique_deploy_number"),
            # One running deploy per Heroku app, across every worker on every host.
            models.UniqueConstraint(
                fields=["app_name"], condition=Q(state="running"), name="one_running_deploy_per_app"
            ),
        ]
        indexes = [
            models.Index(fields=["project", "environment", "-number"]),
            models.Index(fields=["app_name", "state"]),
            # The project page's "last successful deploy" of each environment, one index probe.
            models.Index(
                fields=["environment", "state", "-number"], name="deploy_env_state_number"
            ),
        ]

    def __str__(self):
        return f"#{self.number} {self.environment_name} {self.short_sha}"

    def get_absolute_url(self):
        return reverse("deploy", args=[self.project.slug, self.number])

    @property
    def short_sha(self):
        return self.sha[:7]

    @property
    def is_finished(self):
        return self.state in FINISHED_STATES

    @property
    def duration(self):
        if not self.started_at:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    # -- transitions (docs/deploys.md) -----------------------------------------------------

    def _move(self, rows, **fields) -> bool:
        """UPDATE this deploy's row among `rows` with `fields`; whether it changed (then the
        project's pages are marked changed)."""
        won = bool(rows.filter(pk=self.pk).update(**fields))
        if won:
            pagecache.touch(self.project_id)
            if "state" in fields:
                _moved(self.pk)
        return won

    def claim(self, worker_name: str, waiting_before) -> bool | None:
        """queued -> running, for `worker_name`. True: ours now. False: no longer queued.
        None: the app is busy (a deploy of it runs, or `waiting_before` has an older one)."""
        now = timezone.now()
        started = Coalesce(F("started_at"), Value(now), output_field=DateTimeField())
        queued = Deploy.objects.filter(state=State.QUEUED).filter(~models.Exists(waiting_before))
        try:
            with transaction.atomic():
                fields = {"started_at": started, "heartbeat_at": now, "worker_name": worker_name}
                won = self._move(queued, state=State.RUNNING, **fields)
        except IntegrityError:  # one_running_deploy_per_app: another deploy of the app runs
            return None
        if won:
            # Its own columns as claimed; the project, key and environment read with it are
            # kept (a plain refresh_from_db() would drop them, to be read again one by one).
            self.refresh_from_db(fields=OWN_FIELDS)
            return True
        return None if Deploy.objects.filter(pk=self.pk, state=State.QUEUED).exists() else False

    def defer(self) -> bool:
        """running -> queued: back in the queue until Heroku's git rate limit allows a push."""
        running = Deploy.objects.filter(state=State.RUNNING)
        won = self._move(running, state=State.QUEUED, worker_name="")
        if won:
            self.state, self.worker_name = State.QUEUED, ""
        return won

    def finish(self, state: str, reason: str, worker_name: str) -> bool:
        """running -> succeeded, failed or canceled, only while `worker_name` holds it (else
        somebody ended it already, or the reaper took it over)."""
        ours = Deploy.objects.filter(state=State.RUNNING, worker_name=worker_name)
        won = self._move(
            ours,
            state=state,
            reason=reason,
            finished_at=timezone.now(),
            cancel_requested=False,
            notify_pending=True,
        )
        if won:
            self.refresh_from_db()
        return won

    def take_over(self, worker_name: str, reason: str, still: Q) -> bool:
        """running -> running, cleaning up: the reaper holds a deploy whose worker died (`still`:
        the condition that it is, checked in the UPDATE). It keeps its app meanwhile."""
        dead = Deploy.objects.filter(still, state=State.RUNNING)
        return self._move(
            dead,
            worker_name=worker_name,
            heartbeat_at=timezone.now(),
            reason=reason,
            phase=Phase.CLEANING_UP,
        )

    def fail_cleaned_up(self, worker_name: str, reason: str) -> bool:
        """running, cleaning up -> failed, if the reaper `worker_name` still holds it; the step
        it was in fails with it, those not reached are skipped."""
        ours = Deploy.objects.filter(state=State.RUNNING, worker_name=worker_name)
        now = timezone.now()
        fields = {"reason": reason, "finished_at": now, "notify_pending": True}
        if not self._move(ours, state=State.FAILED, phase=Phase.STEPS, **fields):
            return False  # its own worker came back and ended it (Deploy.finish)
        self.steps.filter(state=StepState.RUNNING).update(state=StepState.FAILED, finished_at=now)
        self.steps.filter(state=StepState.PENDING).update(state=StepState.SKIPPED)
        self.refresh_from_db()
        return True

    def fail_queued(self, reason: str) -> bool:
        """queued -> failed: a deploy that never ran (it held nothing, nothing to undo)."""
        queued = Deploy.objects.filter(state=State.QUEUED)
        fields = {"reason": reason, "finished_at": timezone.now(), "notify_pending": True}
        won = self._move(queued, state=State.FAILED, **fields)
        if won:
            self.refresh_from_db()
        return won

    def cancel(self, reason: str) -> bool:
        """queued or waiting for approval -> canceled; a deploy back in the queue (the rate
        limit) has planned steps: canceled with it."""
        queued = Deploy.objects.filter(state__in=[State.QUEUED, State.WAITING])
        if not self._move(queued, state=State.CANCELED, reason=reason, finished_at=timezone.now()):
            return False
        self.steps.filter(state=StepState.PENDING).update(state=StepState.CANCELED)
        self.refresh_from_db()
        return True

    def request_cancel(self, reason: str) -> bool:
        """running, asked to stop: its heartbeat notices, the pipeline ends it as canceled."""
        running = Deploy.objects.filter(state=State.RUNNING)
        won = self._move(running, cancel_requested=True, reason=reason)
        if won:
            self.refresh_from_db()
        return won

    def approve_start(self) -> bool:
        """waiting for approval -> queued: approved by enough people (deploys/approvals.py)."""
        waiting = Deploy.objects.filter(state=State.WAITING)
        won = self._move(waiting, state=State.QUEUED, approval_deadline=None)
        if won:
            self.state, self.approval_deadline = State.QUEUED, None
        return won

    def end_waiting(self, reason: str) -> bool:
        """waiting for approval -> canceled: rejected, expired or canceled before it started."""
        waiting = Deploy.objects.filter(state=State.WAITING)
        if not self._move(waiting, state=State.CANCELED, reason=reason, finished_at=timezone.now()):
            return False
        self.refresh_from_db()
        return True

    def take_notifications(self) -> bool:
        """notify_pending -> not: whether this call is the one to queue the deploy's
        notifications (no page shows the flag: the pages are left as they are)."""
        return bool(
            Deploy.objects.filter(pk=self.pk, notify_pending=True).update(notify_pending=False)
        )

    def leave_notifications_pending(self) -> None:
        """Back to notify_pending, when they could not be queued (the workers retry)."""
        Deploy.objects.filter(pk=self.pk).update(notify_pending=True)

    def record(self, **fields) -> None:
        """Write fields of the deploy that its pages show (commit, release, end state...)."""
        for name, value in fields.items():
            setattr(self, name, value)
        self._move(Deploy.objects.all(), **fields)

    def keep_cleanup_state(self, state: dict) -> None:
        """Write what the pipeline must undo; no page shows it."""
        self.cleanup_state = state
        Deploy.objects.filter(pk=self.pk).update(cleanup_state=state)


OWN_FIELDS = [field.attname for field in Deploy._meta.concrete_fields if not field.is_relation]


class DeployApproval(models.Model):
    """One person's approval or rejection of a deploy waiting for approval, with their comment.
    One per person and deploy; a new deploy of the same commit starts with none."""

    deploy = models.ForeignKey(Deploy, models.CASCADE, related_name="approvals")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+")
    approved = models.BooleanField()
    comment = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["deploy", "user"], name="one_approval_per_person")
        ]

    def __str__(self):
        return f"{self.deploy} {'approved' if self.approved else 'rejected'} by {self.user}"


class StepState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    CANCELED = "canceled", "Canceled"


class DeployStep(models.Model):
    deploy = models.ForeignKey(Deploy, models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=50)  # e.g. "checkout", "push", "migrate"
    title = models.CharField(max_length=200)  # what the log viewer shows
    state = models.CharField(max_length=10, choices=StepState.choices, default=StepState.PENDING)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_status = models.IntegerField(null=True, blank=True)
    first_line = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["deploy", "position"], name="unique_step_position")
        ]

    def __str__(self):
        return f"{self.deploy} step {self.position} {self.name}"


class LogChunk(models.Model):
    """Many consecutive log lines of one deploy, in the format of `deploys.logformat`."""

    deploy = models.ForeignKey(Deploy, models.CASCADE, related_name="log_chunks")
    first_line = models.PositiveIntegerField()  # sequence number of its first line, from 1
    line_count = models.PositiveIntegerField()
    content = models.TextField()

    class Meta:
        ordering = ["first_line"]
        constraints = [
            models.UniqueConstraint(fields=["deploy", "first_line"], name="unique_chunk_start")
        ]

    def __str__(self):
        return f"{self.deploy} lines {self.first_line}-{self.first_line + self.line_count - 1}"
