"""Webhook outcomes and git requests that the project pages show mark them changed.

A Deploy marks them itself, in each of its transitions (deploys.models.Deploy, docs/deploys.md).
"""

from django.db.models.signals import post_save
from django.dispatch import receiver

from deploys import models
from deploys.models import Deploy
from deploys.trigger_models import GitRequest, WebhookEvent
from projects import pagecache


@receiver(post_save, sender=WebhookEvent)
def webhook_event_saved(sender, instance, **kwargs):
    pagecache.touch(instance.endpoint.project_id)


@receiver(post_save, sender=GitRequest)
def git_request_saved(sender, instance, **kwargs):
    if instance.deploy_id:
        pagecache.touch(instance.deploy.project_id)


@receiver(post_save, sender=Deploy)
def deploy_created(sender, instance, created, **kwargs):
    if created:
        models._moved(instance.pk)


@receiver(models.moved)
def deploy_moved(sender, deploy_ids, **kwargs):
    from deploys import github, metrics  # they import the models (loaded before this)

    github.follow(deploy_ids)
    metrics.record_commit_times(deploy_ids)
