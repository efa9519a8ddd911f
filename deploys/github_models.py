"""The GitHub Deployment a deploy reported to (deploys/github.py). Imported by
deploys/models.py so Django discovers it."""

from django.db import models

__all__ = ["GitHubDeployment"]


class GitHubDeployment(models.Model):
    deploy = models.OneToOneField("deploys.Deploy", models.CASCADE, related_name="github")
    deployment_id = models.BigIntegerField(null=True, blank=True)  # GitHub's id, once created
    repository = models.CharField(max_length=201)  # owner/name it was created in
    state = models.CharField(max_length=20, blank=True)  # the last status GitHub took
    attempts = models.PositiveIntegerField(default=0)
    problem = models.TextField(blank=True)  # why the last attempt failed, GitHub's words

    def __str__(self):
        return f"{self.repository} deployment {self.deployment_id} ({self.state})"
