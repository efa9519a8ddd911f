from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

# Django registers the models of the modules an app's models module imports: the app's other
# models live in these two, and are imported from them where used.
from deploys import live_models, trigger_models  # noqa: F401
from projects import pagecache
from projects.models import Environment, Project


class State(models.TextChoices):
    """Where a deploy is. Why it ended is `Deploy.reason`."""

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


# Fields no page of deploys lists: writing only these leaves the project pages as they were.
UNSEEN_DEPLOY_FIELDS = {
    "line_count",
    "heartbeat_at",
    "worker_name",
    "cleanup_state",
    "notify_pending",
}


class DeployQuerySet(models.QuerySet):
    """Bulk writes mark the project pages changed as saves do (deploys.signals)."""

    def update(self, **fields):
        if fields.keys() <= UNSEEN_DEPLOY_FIELDS:
            return super().update(**fields)
        projects = set(self.values_list("project_id", flat=True).order_by())
        return self._update_touching(projects, fields)

    def update_of(self, deploy, **fields):
        """update() of `deploy`'s row, if this queryset holds it; its project is known, so
        marking the pages changed needs no query to find it."""
        found = self.filter(pk=deploy.pk)
        if fields.keys() <= UNSEEN_DEPLOY_FIELDS:
            return found.update(**fields)
        return found._update_touching({deploy.project_id}, fields)

    def _update_touching(self, projects, fields):
        updated = super().update(**fields)
        for project_id in projects if updated else ():
            pagecache.touch(project_id)
        return updated

    def bulk_create(self, deploys, *args, **kwargs):
        created = super().bulk_create(deploys, *args, **kwargs)
        for project_id in {deploy.project_id for deploy in created}:
            pagecache.touch(project_id)
        return created


class Deploy(models.Model):
    """One run of the pipeline for one environment: the source of truth (RQ is plumbing)."""

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

    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    reason = models.TextField(blank=True)  # why it did not succeed, in the user's words
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # the stale-deploy reaper reads it
    worker_name = models.CharField(max_length=200, blank=True)

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
        from django.utils import timezone

        return (self.finished_at or timezone.now()) - self.started_at


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
