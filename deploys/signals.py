"""Deploys, webhook outcomes and git requests that the project pages show mark them changed.

`Deploy.objects` marks them on `update()` and `bulk_create()` too (deploys.models.DeployQuerySet).
"""

from django.db.models.signals import post_save
from django.dispatch import receiver

from deploys.models import UNSEEN_DEPLOY_FIELDS, Deploy
from deploys.trigger_models import GitRequest, WebhookEvent
from projects import pagecache


@receiver(post_save, sender=Deploy)
def deploy_saved(sender, instance, update_fields=None, **kwargs):
    if update_fields is None or not set(update_fields) <= UNSEEN_DEPLOY_FIELDS:
        pagecache.touch(instance.project_id)


@receiver(post_save, sender=WebhookEvent)
def webhook_event_saved(sender, instance, **kwargs):
    pagecache.touch(instance.endpoint.project_id)


@receiver(post_save, sender=GitRequest)
def git_request_saved(sender, instance, **kwargs):
    if instance.deploy_id:
        pagecache.touch(instance.deploy.project_id)
