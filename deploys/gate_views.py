"""The Protection page (locks, approval rules, freeze windows) and approving a waiting deploy.

Viewers see it all; deployers lock and unlock; admins set approval rules and freeze windows.
Every decision is in the audit trail (projects/audit.py).
"""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Max
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from deploys import approvals, confirmations, freeze, gates
from deploys.gate_forms import ApprovalRulesForm, FreezeWindowForm, LockForm
from deploys.models import Deploy, State
from deploys.trigger_models import Outcome, WebhookEvent
from projects import audit, pagecache
from projects.access import get_project_for_user
from projects.models import EnvironmentLock, FreezeWindow, Project, Role


@dataclass
class EnvironmentGates:
    """What holds deploys of one environment, for the pages."""

    environment: object
    lock: EnvironmentLock | None
    hold: gates.Hold | None  # a freeze window covering now
    next_window: tuple | None  # (window, starts, ends, starts in words, ends in words)
    held: object  # the newest webhook delivery held since the last deploy, or None
    waiting: list  # deploys waiting for approval
    rules_form: object = None  # the approval rules form, for admins on the Protection page

    @property
    def anything(self) -> bool:
        env = self.environment
        found = (self.lock, self.hold, self.next_window, self.held, self.waiting)
        return any(found) or bool(env.required_approvals)


def environment_gates(project) -> list[EnvironmentGates]:
    """Each environment's gates, in a constant number of queries (the project page's part)."""
    now = timezone.now()
    environments = list(project.environments.all())
    locks = {
        lock.environment_id: lock
        for lock in EnvironmentLock.objects.select_related("locked_by").filter(
            environment__project=project
        )
    }
    windows = list(project.freeze_windows.all())
    waiting = list(project.deploys.filter(state=State.WAITING).order_by("number"))
    held = _held_commits(project)
    return [
        _gates_of(env, locks.get(env.pk), windows, waiting, held.get(env.pk), now)
        for env in environments
    ]


def _held_commits(project) -> dict:
    """{environment pk: the newest held delivery since its last deploy} (gates.held_commit for
    every environment, in two queries)."""
    last = dict(
        project.deploys.values("environment_id")
        .annotate(last=Max("created_at"))
        .values_list("environment_id", "last")
    )
    events = WebhookEvent.objects.filter(endpoint__project=project, outcome=Outcome.HELD)
    found = {}
    for event in events.order_by("-received_at", "-pk")[:100]:
        since = last.get(event.environment_id)
        if event.environment_id not in found and (since is None or event.received_at > since):
            found[event.environment_id] = event
    return found


def _gates_of(env, lock, windows, waiting, held, now) -> EnvironmentGates:
    mine = [w for w in windows if w.environment_id in (None, env.pk)]
    window, until = freeze.covering(mine, now)
    hold = None
    if window is not None:
        ends = freeze.moment(until, window.time_zone)
        hold = gates.Hold(gates.FREEZE, f"“{window.title}” until {ends}", until)
    found, starts, ends = freeze.next_start(mine, now)
    upcoming = None
    if found is not None:
        words = (freeze.moment(starts, found.time_zone), freeze.moment(ends, found.time_zone))
        upcoming = (found, starts, ends, *words)
    return EnvironmentGates(
        environment=env,
        lock=lock,
        hold=hold,
        next_window=upcoming,
        held=held,
        waiting=[d for d in waiting if d.environment_id == env.pk],
    )


def overview_gates(project) -> list[EnvironmentGates]:
    """The project page's gates section: the environments with something to say."""
    return [item for item in environment_gates(project) if item.anything]


@login_required
def protection(request, slug):
    project, membership = get_project_for_user(request, slug)
    windows = list(project.freeze_windows.select_related("environment", "created_by"))
    context = {
        "project": project,
        "membership": membership,
        "gates": environment_gates(project),
        "windows": [(window, freeze.describe(window)) for window in windows],
        "tab": "protection",
    }
    if membership.is_admin:
        for item in context["gates"]:
            env = item.environment
            item.rules_form = ApprovalRulesForm(instance=env, prefix=f"env{env.pk}")
    return render(request, "deploys/protection.html", context)


def _environment(request, slug, environment_id, role):
    project, _ = get_project_for_user(request, slug, role)
    return get_object_or_404(project.environments.select_related("project"), pk=environment_id)


@login_required
@require_POST
def environment_lock(request, slug, environment_id):
    environment = _environment(request, slug, environment_id, Role.DEPLOYER)
    form = LockForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Not locked: {' '.join(form.errors['reason'])}")
        return redirect("protection", slug)
    try:
        gates.lock(environment, request.user, form.cleaned_data["reason"])
    except gates.LockError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Locked {environment.name}: webhook deploys are held.")
    return redirect("protection", slug)


@login_required
@require_POST
def environment_unlock(request, slug, environment_id):
    environment = _environment(request, slug, environment_id, Role.DEPLOYER)
    if not gates.unlock(environment, request.user):
        messages.info(request, f"{environment.name} was not locked.")
        return redirect("protection", slug)
    held = gates.held_commit(environment)
    offer = f" Commit {held.short_sha} was held meanwhile: deploy it below." if held else ""
    messages.success(request, f"Unlocked {environment.name}.{offer}")
    return redirect("protection", slug)


@login_required
@require_POST
def approval_rules(request, slug, environment_id):
    environment = _environment(request, slug, environment_id, Role.ADMIN)
    before = {name: _plain(environment, name) for name in ApprovalRulesForm.Meta.fields}
    form = ApprovalRulesForm(request.POST, instance=environment, prefix=f"env{environment.pk}")
    if not form.is_valid():
        errors = [e for field_errors in form.errors.values() for e in field_errors]
        messages.error(request, f"Rules of {environment.name} not saved: {' '.join(errors)}")
        return redirect("protection", slug)
    form.save()
    pagecache.touch(environment.project_id)
    changed = {
        name: {"from": before[name], "to": _plain(environment, name)}
        for name in before
        if before[name] != _plain(environment, name)
    }
    if changed:
        audit.record(
            environment.project,
            request.user,
            "environment.gates_changed",
            environment=environment.name,
            **changed,
        )
    messages.success(request, f"Saved the approval rules of {environment.name}.")
    return redirect("protection", slug)


def _plain(environment, name):
    if name == "approvers":
        return sorted(user.get_username() for user in environment.approvers.all())
    return getattr(environment, name)


@login_required
def window_add(request, slug):
    project, membership = get_project_for_user(request, slug, Role.ADMIN)
    form = FreezeWindowForm(project, request.POST or None)
    if request.method == "POST":
        with transaction.atomic():
            # One window at a time per project, so two cannot overlap by arriving together.
            Project.objects.select_for_update().filter(pk=project.pk).first()
            if form.is_valid():
                window = form.save(request.user)
                details = {"title": window.title, "when": freeze.describe(window)}
                where = window.environment.name if window.environment else "every environment"
                audit.record(project, request.user, "freeze_window.added", scope=where, **details)
                pagecache.touch(project.pk)
                messages.success(request, f"Added the freeze window “{window.title}”.")
                return redirect("protection", slug)
    context = {"project": project, "membership": membership, "form": form, "tab": "protection"}
    return render(request, "deploys/freeze_window_new.html", context)


@login_required
@require_POST
def window_delete(request, slug, window_id):
    project, _ = get_project_for_user(request, slug, Role.ADMIN)
    window = get_object_or_404(FreezeWindow, project=project, pk=window_id)
    details = {"title": window.title, "when": freeze.describe(window)}
    if not confirmations.is_confirmed(request):
        question = confirmations.Confirmation(
            question=f"Delete the freeze window “{window.title}”?",
            consequences=f"Deploys are no longer held {details['when']}.",
            button=f"Delete “{window.title}”",
            keep="Keep the window",
        )
        return confirmations.ask(request, question, reverse("protection", args=[slug]))
    window.delete()
    pagecache.touch(project.pk)
    audit.record(project, request.user, "freeze_window.deleted", **details)
    messages.success(request, f"Deleted the freeze window “{window.title}”.")
    return redirect("protection", slug)


@login_required
@require_POST
def deploy_approval(request, slug, number):
    """Approve or reject a deploy waiting for approval, with a comment."""
    project, _ = get_project_for_user(request, slug)
    deploy = get_object_or_404(
        Deploy.objects.select_related("project"), project=project, number=number
    )
    approved = request.POST.get("decision") == "approve"
    try:
        approvals.decide(deploy, request.user, approved, request.POST.get("comment", "")[:1000])
    except approvals.ApprovalRefused as refused:
        messages.error(request, str(refused))
    else:
        deploy.refresh_from_db()
        messages.success(request, _approval_words(deploy, approved))
    return redirect(deploy)


def _approval_words(deploy, approved) -> str:
    if not approved:
        return f"Rejected deploy #{deploy.number}: it will not start."
    if deploy.state == State.QUEUED:
        return f"Approved deploy #{deploy.number}: it has all its approvals and is queued."
    return f"Approved deploy #{deploy.number}: it waits for more approvals."


def approval_context(deploy, user) -> dict:
    """What the deploy page shows of approvals: who approved, how many more, may I."""
    given = list(deploy.approvals.select_related("user"))
    if deploy.state != State.WAITING and not given:
        return {}
    environment = deploy.environment
    needed = environment.required_approvals if environment else 0
    return {
        "approvals": given,
        "approvals_needed": needed,
        "approvals_given": sum(1 for a in given if a.approved),
        "approvers_text": approvals.who_may_approve(environment) if environment else "",
        "approval_problem": approvals.problem(deploy, user),
    }
