from django.contrib import admin

from deploys.models import Deploy
from projects import pagecache


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

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        pagecache.touch(obj.project_id)  # an edit here shows on the project's pages at once
