"""Changes that the project pages show mark them changed (`pagecache.touch`)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal, receiver

from projects import pagecache
from projects.models import DeployKey, Environment, HerokuCredential, Project

# A secret of a project changed, or joined the redaction list: its stored logs may hold values
# the log writer did not know. Sent with project, actor, reason (words, no value), values (old
# values no encrypted field keeps any more; in memory only) and config_vars ({app: [names]}).
# deploys.signals scrubs the logs (deploys/scrub.py).
secrets_changed = Signal()


@receiver([post_save, post_delete], sender=Project)
def project_changed(sender, instance, **kwargs):
    pagecache.touch(instance.pk)


@receiver([post_save, post_delete], sender=Environment)
@receiver([post_save, post_delete], sender=HerokuCredential)
@receiver([post_save, post_delete], sender=DeployKey)
def setting_changed(sender, instance, **kwargs):
    pagecache.touch(instance.project_id)
