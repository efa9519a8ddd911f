import math

from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.db import transaction
from django.db.models import Max, Sum
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from herokucd.clientip import client_ip
from projects import audit
from projects.access import (
    WHO_CREATES_PROJECTS,
    can_create_projects,
    create_first_admin,
    get_project_for_user,
)
from projects.forms import AddMemberForm, FirstAdminForm, ProjectForm, RoleForm
from projects.models import Membership, Role, SetupToken


def _no_users_yet():
    return not get_user_model().objects.exists()


class SignInView(LoginView):
    """Sign in; on a fresh install with no user yet, go and create the first administrator.

    Failed sign-ins for a username from one address are slowed before django-axes locks that
    address out of it: from the third failure on, the next attempt must wait 2, 4, 8... seconds,
    and is refused unchecked before. Other addresses are not held back.
    """

    def dispatch(self, request, *args, **kwargs):
        if _no_users_yet():
            return redirect("first_admin")
        return super().dispatch(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")
        if len(username) > MAX_USERNAME or "\x00" in username:
            # No account has such a name; refused before django-axes records it (its column
            # holds 255 characters, and PostgreSQL no NUL byte: either was a database error).
            form = self.get_form_class()(request, data={"username": ""})  # never authenticated
            form.errors.clear()
            form.add_error(
                None, f"A username has at most {MAX_USERNAME} characters, none of them NUL."
            )
            return self.render_to_response(self.get_context_data(form=form))
        wait = seconds_to_wait(request.POST.get("username", ""), client_ip(request))
        if wait:
            form = self.get_form()
            form.errors.clear()
            form.add_error(
                None,
                f"Too many failed sign-ins for this username: wait {wait} seconds, then try again.",
            )
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)


SLOW_AFTER = 3
MAX_USERNAME = 150  # django.contrib.auth's User.username


def seconds_to_wait(username: str, ip_address: str) -> int:
    from axes.models import AccessAttempt

    attempts = AccessAttempt.objects.filter(username=username, ip_address=ip_address)
    failures = attempts.aggregate(n=Sum("failures_since_start"), last=Max("attempt_time"))
    if not failures["n"] or failures["n"] < SLOW_AFTER:
        return 0
    delay = 2 ** (failures["n"] - SLOW_AFTER + 1)
    waited = (timezone.now() - failures["last"]).total_seconds()
    return max(0, math.ceil(delay - waited))


def first_admin(request):
    if not _no_users_yet():
        raise Http404("An administrator already exists.")
    form = FirstAdminForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = create_first_admin(form)
        if user is not None:
            login(request, user, backend="projects.backends.ModelBackend")
            messages.success(request, f"Welcome, {user.username}. Create your first project.")
            return redirect("project_new")
        form.add_error("setup_token", "This setup token has just been used: sign in instead.")
    ctx = {"form": form, "token_issued": SetupToken.objects.exists()}
    return render(request, "registration/first_admin.html", ctx)


@login_required
def project_new(request):
    if not can_create_projects(request.user):
        ctx = {"not_allowed": WHO_CREATES_PROJECTS}
        return render(request, "projects/project_new.html", ctx, status=403)
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            project = form.save(commit=False)
            project.created_by = request.user
            project.save()
            Membership.objects.create(project=project, user=request.user, role=Role.ADMIN)
        messages.success(request, f"Project {project.name} created. Next: connect it to Heroku.")
        return redirect(project)
    return render(request, "projects/project_new.html", {"form": form})


@login_required
def members(request, slug):
    project, membership = get_project_for_user(request, slug)
    form = AddMemberForm(project=project)
    if request.method == "POST":
        project, membership = get_project_for_user(request, slug, Role.ADMIN)
        form = AddMemberForm(request.POST, project=project)
        if form.is_valid():
            user, role = form.cleaned_data["username"], form.cleaned_data["role"]
            Membership.objects.create(project=project, user=user, role=role)
            audit.record(project, request.user, "member.added", member=user.username, role=role)
            messages.success(request, f"{user.username} is now a {role} of {project.name}.")
            return redirect("members", slug)
    ctx = {
        "project": project,
        "membership": membership,
        "form": form,
        "memberships": project.memberships.select_related("user"),
        "roles": Role.choices,
    }
    return render(request, "projects/members.html", ctx)


@login_required
@require_POST
def member_role(request, slug, member_id):
    project, _ = get_project_for_user(request, slug, Role.ADMIN)
    member = get_object_or_404(project.memberships, pk=member_id)
    form = RoleForm(request.POST, instance=member)
    if _would_leave_no_admin(project, member, form):
        messages.error(
            request, "A project needs at least one admin; make someone else admin first."
        )
    elif form.is_valid():
        old_role = Membership.objects.get(pk=member.pk).role
        form.save()
        change = {"from": old_role, "to": member.role}
        audit.record(
            project, request.user, "member.role_changed", member=member.user.username, role=change
        )
        messages.success(request, f"{member.user.username} is now a {member.role}.")
    return redirect("members", slug)


@login_required
@require_POST
def member_remove(request, slug, member_id):
    project, _ = get_project_for_user(request, slug, Role.ADMIN)
    member = get_object_or_404(project.memberships, pk=member_id)
    if member.is_admin and project.memberships.filter(role=Role.ADMIN).count() == 1:
        messages.error(
            request, "A project needs at least one admin; make someone else admin first."
        )
    else:
        member.delete()
        audit.record(project, request.user, "member.removed", member=member.user.username)
        messages.success(request, f"{member.user.username} no longer has access to {project.name}.")
    return redirect("members", slug)


def _would_leave_no_admin(project, member, form):
    demoting = member.is_admin and form.data.get("role") != Role.ADMIN
    return demoting and project.memberships.filter(role=Role.ADMIN).count() == 1
