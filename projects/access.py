"""Who may see and change a project: the one ownership helper every project view goes through."""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from projects.models import Membership, Project, Role


def get_project_for_user(request, slug, role=Role.VIEWER):
    """The project and the user's membership; 404 for non-members, 403 below `role`.

    A non-member learns nothing, not even that the project exists.
    """
    membership = get_object_or_404(
        Membership.objects.select_related("project"), project__slug=slug, user=request.user
    )
    if not membership.allows(role):
        raise PermissionDenied(f"This needs the {Role(role).label.lower()} role.")
    return membership.project, membership


def projects_for_user(user):
    return Project.objects.filter(memberships__user=user)
