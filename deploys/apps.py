from django.apps import AppConfig


class DeploysConfig(AppConfig):
    name = "deploys"
    verbose_name = "Deploys"

    def ready(self):
        from deploys import signals  # noqa: F401  (connects the receivers)
