"""Who may see and change a project: the one ownership helper every project view goes through."""

from django.core.exceptions import PermissionDenied
from django.http import Http404

from projects.models import Membership, Project, Role


def get_project_for_user(request, slug, role=Role.VIEWER):
    """The project and the user's membership; 404 for non-members, 403 below `role`.

    A non-member learns nothing, not even that the project exists.
    """
    membership = next((m for m in memberships_of(request) if m.project.slug == slug), None)
    if membership is None:
        raise Http404("No such project.")
    if not membership.allows(role):
        raise PermissionDenied(f"This needs the {Role(role).label.lower()} role.")
    return membership.project, membership


def memberships_of(request) -> list[Membership]:
    """The signed-in user's memberships with their projects, by project name.

    Every signed-in page reads them (the ownership helper, the project switcher), so they come
    from one plain query per request: the ORM would spend more time building it than the
    database spends answering.
    """
    if not hasattr(request, "_memberships"):
        rows = Project.objects.raw(_MEMBERSHIPS_SQL, [request.user.pk])
        request._memberships = [_membership(project, request.user) for project in rows]
    return request._memberships


_MEMBERSHIPS_SQL = f"""
    SELECT p.*, m.id AS membership_id, m.role AS membership_role
    FROM {Project._meta.db_table} p JOIN {Membership._meta.db_table} m ON m.project_id = p.id
    WHERE m.user_id = %s ORDER BY p.name, p.id
"""  # noqa: S608  (table names from the models, the user id a parameter)


def _membership(project, user) -> Membership:
    # from_db takes the values in the model's field order; created_at stays deferred.
    values = [project.membership_id, project.pk, user.pk, project.membership_role]
    membership = Membership.from_db("default", ["id", "project_id", "user_id", "role"], values)
    membership.project, membership.user = project, user
    return membership


def projects_for_user(user):
    return Project.objects.filter(memberships__user=user)
