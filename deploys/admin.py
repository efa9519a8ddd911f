from django.contrib import admin

from deploys.models import Deploy


@admin.register(Deploy)
class DeployAdmin(admin.ModelAdmin):
    list_display = [
        "number",
        "project",
        "environment_name",
        "app_name",
        "sha",
        "state",
        "created_at",
    ]
    list_filter = ["state", "trigger"]
    search_fields = ["sha", "branch", "app_name"]
