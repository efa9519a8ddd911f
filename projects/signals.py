"""Changes that the project pages show mark them changed (`pagecache.touch`)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from projects import pagecache
from projects.models import DeployKey, Environment, HerokuCredential, Project


@receiver([post_save, post_delete], sender=Project)
def project_changed(sender, instance, **kwargs):
    pagecache.touch(instance.pk)


@receiver([post_save, post_delete], sender=Environment)
@receiver([post_save, post_delete], sender=HerokuCredential)
@receiver([post_save, post_delete], sender=DeployKey)
def setting_changed(sender, instance, **kwargs):
    pagecache.touch(instance.project_id)
