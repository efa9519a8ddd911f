from django.apps import AppConfig
from django.conf import settings
from django.db import connections
from django.db.models.signals import post_migrate


class HerokucdConfig(AppConfig):
    """The project's seams to the outside world; an app for its management commands."""

    name = "herokucd"
    verbose_name = "herokucd"

    def ready(self):
        if settings.EMBEDDED_REDIS:
            from herokucd.embedded_redis import ensure_running

            ensure_running(settings.DATA_DIR)
        # Sent once per app with models (this one has none); setting WAL again is a no-op.
        post_migrate.connect(use_write_ahead_log, dispatch_uid="herokucd-wal")


def use_write_ahead_log(using, **kwargs):
    """SQLite: readers and a writer work together (web and worker processes share the file).

    WAL is a property of the database file, so it is set once, when migrate made or updated it,
    rather than by every new connection (each RQ work horse opens one).
    """
    connection = connections[using]
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")
