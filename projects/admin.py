from django.contrib import admin

from projects.models import Membership, Project


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "repository_url", "default_branch", "created_at"]
    search_fields = ["name", "slug"]
    exclude = ["repository_userinfo"]  # a secret: never shown, even to administrators
    inlines = [MembershipInline]
