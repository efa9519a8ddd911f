"""What Heroku says is live on each environment's app: its current release, read in the
background (deploys/live.py), never while a page is served. Imported at the end of
deploys/models.py so Django discovers it."""

from django.db import models

from projects.models import Environment

__all__ = ["LiveRelease"]


class LiveRelease(models.Model):
    """The app's current release as last read from Heroku, one per environment."""

    environment = models.OneToOneField(Environment, models.CASCADE, related_name="live_release")
    app_name = models.CharField(max_length=30)  # the app it was read from
    version = models.PositiveIntegerField(null=True, blank=True)
    release_id = models.CharField(max_length=64, blank=True)
    commit = models.CharField(max_length=40, blank=True)  # from the release's slug
    description = models.CharField(max_length=255, blank=True)
    user_email = models.CharField(max_length=255, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, blank=True)
    # The herokucd deploy that made the release (same project and app, same version), if any.
    deploy = models.ForeignKey(
        "deploys.Deploy", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    checked_at = models.DateTimeField()  # last asked, whatever the answer (when to ask again)
    read_at = models.DateTimeField(null=True, blank=True)  # last answered: what "as of" says
    problem = models.TextField(blank=True)  # why the last read failed, in the user's words

    def __str__(self):
        return f"{self.app_name} v{self.version}"

    @property
    def short_commit(self):
        return self.commit[:7]
