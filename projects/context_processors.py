from django.conf import settings

from projects.access import projects_for_user


def navigation(request):
    """The project switcher in the top bar and the version in the footer."""
    projects = []
    if getattr(request, "user", None) and request.user.is_authenticated:
        projects = projects_for_user(request.user).only("name", "slug")
    return {"nav_projects": projects, "version": settings.VERSION}
