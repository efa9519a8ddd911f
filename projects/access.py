"""Who may see and change a project: the one ownership helper every project view goes through."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.http import Http404
from django.utils import timezone

from projects.access_models import Invitation, SetupToken, new_token, token_hash
from projects.models import Membership, Project, Role

User = get_user_model()


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


def is_installation_admin(user) -> bool:
    """Administrators of the installation: they invite users and decide who creates projects."""
    return user.is_authenticated and user.is_active and (user.is_staff or user.is_superuser)


def can_create_projects(user) -> bool:
    """PROJECT_CREATORS=everyone, an administrator, or a user given "Can add project"."""
    if not user.is_authenticated:
        return False
    if settings.PROJECT_CREATORS == "everyone" or is_installation_admin(user):
        return True
    if getattr(user, "may_add_project", None) is None:  # not read with the user
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {may_add_project_sql('%s')}", [user.pk, user.pk])
            user.may_add_project = cursor.fetchone()[0]
    return bool(user.may_add_project)


def may_add_project_sql(user_id: str) -> str:
    """user.has_perm("projects.add_project") as Django's ModelBackend answers it (given to the
    user or to one of their groups), as an SQL expression on `user_id` (a column or %s).

    Every signed-in page asks (the top bar's "New project" link): projects/backends.py reads it
    with the user, in the query that loads them anyway, as the ORM's two queries for all of a
    user's permissions cost more than a kept page takes to serve.
    """
    permission = f"""
        JOIN {Permission._meta.db_table} p ON p.id = x.permission_id
        JOIN {ContentType._meta.db_table} ct ON ct.id = p.content_type_id
        WHERE ct.app_label = 'projects' AND p.codename = 'add_project'
    """
    return f"""(
        EXISTS (SELECT 1 FROM {User.user_permissions.through._meta.db_table} x {permission}
            AND x.user_id = {user_id})
        OR EXISTS (SELECT 1 FROM {Group.permissions.through._meta.db_table} x
            JOIN {User.groups.through._meta.db_table} ug ON ug.group_id = x.group_id
            {permission} AND ug.user_id = {user_id})
    )"""  # noqa: S608  (table names from the models, the user id a column or a parameter)


WHO_CREATES_PROJECTS = (
    "Only administrators of this herokucd create projects. Ask one to create the project and "
    "add you to it, or to give you the “Can add project” permission."
)


def issue_setup_token() -> str | None:
    """A new setup token for the first administrator, replacing any earlier one; None (and no
    token) once a user exists."""
    if get_user_model().objects.exists():
        return None
    token, digest = new_token()
    with transaction.atomic():
        SetupToken.objects.all().delete()
        SetupToken.objects.create(token_hash=digest)
    return token


def create_first_admin(form):
    """The superuser of a valid FirstAdminForm, or None when its token was used meanwhile.

    Deleting the token's row is the lock: of concurrent requests with the token exactly one
    deletes it (PostgreSQL makes the others wait for its commit, then find no row; SQLite's
    IMMEDIATE transactions run one at a time). A failure later rolls the deletion back.
    """
    with transaction.atomic():
        digest = token_hash(form.cleaned_data["setup_token"])
        deleted, _ = SetupToken.objects.filter(token_hash=digest).delete()
        if not deleted or get_user_model().objects.exists():
            return None
        user = form.save(commit=False)
        user.is_staff = user.is_superuser = True
        user.save()
    return user


def create_invitation(form, invited_by) -> str:
    """Save the invitation of a valid InvitationForm; returns its token, which is not kept."""
    token, digest = new_token()
    invitation = form.save(commit=False)
    invitation.token_hash, invitation.invited_by = digest, invited_by
    invitation.expires_at = timezone.now() + timedelta(days=settings.INVITATION_DAYS)
    invitation.save()
    return token


def find_invitation(token) -> tuple[Invitation | None, str, int]:
    """The invitation a link's token opens, or None, why it opens nothing and the status."""
    invitation = Invitation.objects.filter(token_hash=token_hash(token)).first()
    if invitation is None:
        return None, "This invitation link is not valid. Check that you copied all of it.", 404
    if invitation.used_at:
        problem = "This invitation has been used already. Sign in, or ask for a new one."
    elif invitation.revoked_at:
        problem = "This invitation was withdrawn. Ask an administrator for a new one."
    elif invitation.expires_at <= timezone.now():
        problem = "This invitation has expired. Ask an administrator for a new one."
    else:
        return invitation, "", 200
    return None, problem, 410  # Gone: it was valid once


def accept_invitation(invitation, form):
    """The user of a valid NewUserForm, or None when the invitation stopped being usable.

    The conditional UPDATE claims it: of concurrent uses exactly one changes the row (the
    others wait for its commit, then match nothing), so one invitation makes one user.
    """
    with transaction.atomic():
        claimed = Invitation.objects.pending().filter(pk=invitation.pk)
        if not claimed.update(used_at=timezone.now()):
            return None
        user = form.save()
        if invitation.may_create_projects:
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label="projects", codename="add_project")
            )
        Invitation.objects.filter(pk=invitation.pk).update(used_by=user)
    return user
