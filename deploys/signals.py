"""Webhook outcomes and git requests that the project pages show mark them changed.

A Deploy marks them itself, in each of its transitions (deploys.models.Deploy, docs/deploys.md).
"""

from django.db.models.signals import post_save
from django.dispatch import receiver

from deploys import models, scrub
from deploys.models import Deploy
from deploys.trigger_models import GitRequest, WebhookEvent
from herokucd import crypto
from projects import pagecache
from projects.models import Project
from projects.signals import secrets_changed


@receiver(post_save, sender=WebhookEvent)
def webhook_event_saved(sender, instance, **kwargs):
    pagecache.touch(instance.endpoint.project_id)


@receiver(post_save, sender=GitRequest)
def git_request_saved(sender, instance, **kwargs):
    if instance.deploy_id:
        pagecache.touch(instance.deploy.project_id)


@receiver(secrets_changed)
def scrub_on_secret_change(sender, project, actor, reason, values=(), config_vars=None, **kw):
    scrub.start(project, actor, reason, values, config_vars)


@receiver(crypto.keys_rotated)
def scrub_after_key_rotation(sender, **kwargs) -> str:
    """Every project with stored logs: its secrets, and its environments' secret config vars
    as Heroku has them now, redacted from all of them."""
    started = 0
    for project in Project.objects.filter(deploys__log_chunks__isnull=False).distinct():
        names = scrub.secret_config_vars(project)
        scrub.start(project, None, "The encryption keys were rotated", config_vars=names)
        started += 1
    return f"queued a scrub of the stored logs of {started} project(s)"


@receiver(post_save, sender=Deploy)
def deploy_created(sender, instance, created, **kwargs):
    if created:
        models._moved(instance.pk)


@receiver(models.moved)
def deploy_moved(sender, deploy_ids, **kwargs):
    from deploys import github, metrics  # they import the models (loaded before this)

    github.follow(deploy_ids)
    metrics.record_commit_times(deploy_ids)
