from django.conf import settings

from projects.access import memberships_of


def navigation(request):
    """The project switcher in the top bar and the version in the footer."""
    projects = []
    if getattr(request, "user", None) and request.user.is_authenticated:
        projects = [membership.project for membership in memberships_of(request)]
    return {"nav_projects": projects, "version": settings.VERSION}
