from django.apps import AppConfig
from django.conf import settings


class HerokucdConfig(AppConfig):
    """The project's seams to the outside world; an app for its management commands."""

    name = "herokucd"
    verbose_name = "herokucd"

    def ready(self):
        if settings.EMBEDDED_REDIS:
            from herokucd.embedded_redis import ensure_running

            ensure_running(settings.DATA_DIR)
