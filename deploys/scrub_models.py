"""A scrub of a project's stored logs after one of its secrets changed (deploys/scrub.py).
Imported at the end of deploys/models.py so Django discovers it."""

from django.conf import settings
from django.db import models

from herokucd.crypto import EncryptedTextField
from projects.models import Project

__all__ = ["LogScrub"]


class ScrubState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Done with problems"


class LogScrub(models.Model):
    """One pass over every stored log chunk of a project, oldest first, resumable: each chunk's
    rewrite and `last_chunk` move on in one transaction."""

    project = models.ForeignKey(Project, models.CASCADE, related_name="log_scrubs")
    reason = models.CharField(max_length=300)  # what changed, in words; never a value
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Values no encrypted source keeps any more (a replaced key) or that Heroku may change
    # before the scrub ends (config vars): a JSON list, encrypted; emptied when it ends.
    values = EncryptedTextField(blank=True)
    # {app name: [config var names]} whose values the job reads from Heroku into `values`.
    config_vars = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=ScrubState, default=ScrubState.QUEUED)
    last_chunk = models.BigIntegerField(default=0)  # the id of the last chunk done
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    chunks_changed = models.PositiveIntegerField(default=0)
    problems = models.JSONField(default=list, blank=True)  # what it could not do, in words
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)  # moves on with each chunk
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"Log scrub of {self.project} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in (ScrubState.SUCCEEDED, ScrubState.FAILED)

    @property
    def percent(self) -> int:
        if self.is_finished:
            return 100
        return min(99, self.chunks_done * 100 // self.chunks_total) if self.chunks_total else 0
