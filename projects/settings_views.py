"""The project settings page: Heroku setup summary, environments and their deploy options,
the circle.yml import and the audit trail.

Members of any role may read it (secrets masked); only admins change anything.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.shortcuts import get_object_or_404, redirect, render

from herokucd import heroku
from projects import audit, branch_check, circle_import, github_views, setup
from projects.access import get_project_for_user
from projects.models import DeployKey, Environment, GitHubToken, HerokuCredential, Role
from projects.settings_forms import CircleImportForm, EnvironmentOptionsForm
from projects.setup_forms import check_app_for, check_app_name, clean_branch, production_like
from projects.signals import secrets_changed


@login_required
def settings_page(request, slug):
    project, membership = get_project_for_user(request, slug)
    context = {
        "project": project,
        "membership": membership,
        "credential": HerokuCredential.objects.filter(project=project).first(),
        "deploy_key": DeployKey.objects.filter(project=project).first(),
        "github_token": GitHubToken.objects.filter(project=project).first(),
        "github_off": github_views.why_off(project),
        "environments": project.environments.all(),
        "overlaps": setup.branch_overlaps(project),
        "missing": setup.missing_steps(project),
        "events": [(event, audit.describe(event)) for event in audit.recent(project)],
    }
    return render(request, "projects/settings/index.html", context)


# -- Deploy options of one environment ----------------------------------------------------------


@login_required
def environment_options(request, slug, environment_id):
    project, membership = get_project_for_user(request, slug)
    if request.method == "POST":
        project, membership = get_project_for_user(request, slug, Role.ADMIN)
    environment = get_object_or_404(project.environments, pk=environment_id)
    client = _client_or_none(project) if request.method == "POST" else None
    try:
        form = EnvironmentOptionsForm(
            request.POST or None, instance=environment, project=project, client=client
        )
        if request.method == "POST" and form.is_valid() and _sync_maintenance_page(form, client):
            _save_options(request, project, form)
            return redirect("project_settings", slug)
    finally:
        if client is not None:
            client.close()
    if not membership.is_admin:
        for field in form.fields.values():
            field.disabled = True
    context = {
        "project": project,
        "membership": membership,
        "environment": environment,
        "form": form,
        "groups": _groups(form),
    }
    return render(request, "projects/settings/environment.html", context)


OPTION_GROUPS = [
    (
        "Deploy",
        [
            "name",
            "branch",
            "app_name",
            "auto_deploy",
            "confirm_manual_deploys",
            "deploy_method",
            "heroku_branch",
            "force_push",
            "when_commit_on_heroku",
        ],
    ),
    (
        "Maintenance and scaling",
        [
            "maintenance_mode",
            "maintenance_page_url",
            "keep_maintenance_after_failed_migration",
            "scale_down_types",
        ],
    ),
    (
        "Migration",
        [
            "migration_preset",
            "migration_command",
            "migration_timeout",
            "backup_before_migrate",
            "migration_globs",
        ],
    ),
    ("Cache", ["cache_flush", "cache_config_vars"]),
    (
        "Commands",
        [
            "pre_deploy_commands",
            "pre_deploy_timeout",
            "post_deploy_commands",
            "post_deploy_timeout",
            "secret_config_vars",
        ],
    ),
    (
        "Health check",
        [
            "health_check_url",
            "health_check_status",
            "health_check_text",
            "health_check_retries",
            "health_check_delay",
            "auto_rollback",
        ],
    ),
    ("Promotion (Heroku pipeline)", ["auto_promote"]),
]


def _groups(form):
    return [(legend, [form[name] for name in names]) for legend, names in OPTION_GROUPS]


def _client_or_none(project):
    if HerokuCredential.objects.filter(project=project).exists():
        return setup.client_for(project)
    return None


def _sync_maintenance_page(form, client) -> bool:
    """Set MAINTENANCE_PAGE_URL on the app when the URL changed; False (form error) on failure."""
    if "maintenance_page_url" not in form.changed_data:
        return True
    if client is None:
        form.add_error("maintenance_page_url", "Save a Heroku API key first (setup step 1).")
        return False
    url = form.cleaned_data["maintenance_page_url"] or None
    try:
        client.update_config_vars(form.cleaned_data["app_name"], {"MAINTENANCE_PAGE_URL": url})
    except heroku.HerokuError as error:
        form.add_error(
            "maintenance_page_url",
            f"Heroku did not set MAINTENANCE_PAGE_URL, nothing was saved: {error}",
        )
        return False
    return True


def _save_options(request, project, form):
    changes = form.changes()
    added = _newly_secret(form)
    with transaction.atomic():
        environment = form.save()
        if changes:
            audit.record(
                project,
                request.user,
                "environment.changed",
                environment=environment.name,
                **changes,
            )
        if added:
            secrets_changed.send(
                sender=Environment,
                project=project,
                actor=request.user,
                reason=f"{', '.join(added)} added to the config vars redacted from the logs "
                f"of {environment.name}",
                config_vars={environment.app_name: added},
            )
    messages.success(request, f"Saved the deploy options of {environment.name}.")
    for overlap in setup.branch_overlaps(project):
        messages.warning(request, overlap)
    if "branch" in form.changed_data:
        for warning in branch_check.check(project, environment.branch):
            messages.warning(request, warning)


def _newly_secret(form) -> list[str]:
    """Config var names the form adds to the redaction list (their values are read later)."""
    before = set(Environment.split_names(form.initial.get("secret_config_vars") or ""))
    after = Environment.split_names(form.cleaned_data.get("secret_config_vars") or "")
    return [name for name in after if name not in before]


@login_required
def environment_delete(request, slug, environment_id):
    project, _ = get_project_for_user(request, slug, Role.ADMIN)
    environment = get_object_or_404(project.environments, pk=environment_id)
    if request.method == "POST":
        with transaction.atomic():
            environment.delete()
            audit.record(
                project,
                request.user,
                "environment.deleted",
                environment=environment.name,
                app_name=environment.app_name,
            )
        messages.success(
            request,
            f"Deleted {environment.name}. The Heroku app {environment.app_name} is unchanged.",
        )
        return redirect("project_settings", slug)
    context = {"project": project, "environment": environment}
    return render(request, "projects/settings/environment_delete.html", context)


# -- Import from circle.yml ---------------------------------------------------------------------


@login_required
def import_circle_yml(request, slug):
    """Paste → "Preview import" shows the plans; "Import environments" saves them all or none."""
    project, _ = get_project_for_user(request, slug, Role.ADMIN)
    form = CircleImportForm(request.POST or None)
    parsed = None
    if request.method == "POST" and form.is_valid():
        parsed = _parse(project, form)
        if _can_import(request, parsed) and _import(request, project, form, parsed.plans):
            return redirect("project_settings", slug)
    context = {
        "project": project,
        "form": form,
        "plans": parsed.plans if parsed else None,
        "skipped": parsed.skipped if parsed else None,
        "has_problems": parsed is not None and _any_problem(parsed),
        "limits": {
            "kilobytes": circle_import.MAX_BYTES // 1024,
            "aliases": circle_import.MAX_ALIASES,
        },
    }
    return render(request, "projects/settings/import.html", context)


def _parse(project, form):
    try:
        parsed = circle_import.parse(form.cleaned_data["circle_yml"], project.default_branch)
    except circle_import.CircleImportError as error:
        form.add_error("circle_yml", str(error))
        return None
    existing = {name.lower() for name in project.environments.values_list("name", flat=True)}
    seen = set()
    for plan in parsed.plans:
        _check_name(plan, existing, seen)
        _check_plan(project, plan)
    if parsed.plans:
        _check_apps(project, parsed.plans)
        _check_branches(project, parsed.plans)
    return parsed


def _check_branches(project, plans):
    """A warning on each plan whose branch the repository lacks (read once for all plans)."""
    branches = branch_check.read(project)
    for plan in plans:
        if plan.branch and not any(p.startswith("Branch") for p in plan.problems):
            plan.warnings = branch_check.warnings(plan.branch, branches)


def _check_name(plan, existing, seen):
    """Names are unique in a project; compared without case, as people read them."""
    name = plan.name.lower()
    if name in existing:
        plan.problems.append(
            f"This project already has an environment “{plan.name}”: delete or rename it first."
        )
    elif name in seen:
        plan.problems.append(
            f"The text names the environment “{plan.name}” twice: rename one of them."
        )
    seen.add(name)


def _check_plan(project, plan):
    checks = [("Branch", clean_branch, "branch"), ("App name", check_app_name, "app_name")]
    for label, check, name in checks:
        value = plan.values.get(name)
        try:
            if value:
                check(value)
        except ValidationError as error:
            plan.problems.append(f"{label} {value}: {' '.join(error.messages)}")
    _check_fields(project, plan)


def _check_fields(project, plan):
    """The model's own limits (lengths, ranges), so that no save fails half-way."""
    environment = Environment(project=project, name=plan.name, **plan.values)
    try:
        environment.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        for name, errors in error.message_dict.items():
            label = Environment._meta.get_field(name).verbose_name.capitalize()
            if not any(problem.startswith(label) for problem in plan.problems):
                plan.problems.append(f"{label}: {' '.join(errors)}")


def _check_apps(project, plans):
    """Ask Heroku, with the project's key, whether it reaches each plan's app: the preview
    shows the answer (`plan.app_check`), and an app it cannot reach is a problem."""
    credential = HerokuCredential.objects.filter(project=project).first()
    if credential is None:
        for plan in plans:
            plan.problems.append(
                "Save a Heroku API key first (setup step 1): herokucd checks each app with it."
            )
        return
    with setup.client_for(project) as client:
        for plan in plans:
            _check_app(plan, project, client)


def _check_app(plan, project, client):
    name = plan.values.get("app_name")
    if not name or any(problem.startswith("App name") for problem in plan.problems):
        return
    checked = Environment(project=project)
    try:
        check_app_for(checked, project, client, name)
    except ValidationError as error:
        plan.app_check = None
        plan.problems.append(" ".join(error.messages))
        return
    plan.app_check = checked
    email = project.heroku_credential.account_email
    plan.app_check_text = f"Heroku app {name}: reachable with {email}'s key."


def _can_import(request, parsed):
    """Confirmed, with at least one environment and no problem left."""
    confirmed = request.POST.get("confirm")
    return bool(confirmed and parsed and parsed.plans and not _any_problem(parsed))


def _any_problem(parsed):
    return any(plan.problems for plan in parsed.plans)


def _import(request, project, form, plans):
    """Create every planned environment in one transaction; False (and a form error) if the
    database refused one, in which case none is kept."""
    last = project.environments.aggregate(last=Max("position"))["last"]
    start = 0 if last is None else last + 1
    try:
        with transaction.atomic():
            for offset, plan in enumerate(plans):
                checked = plan.app_check  # this request's check (_check_apps): none, no import
                Environment.objects.create(
                    project=project,
                    name=plan.name,
                    position=start + offset,
                    web_url=checked.web_url,
                    app_checked_name=checked.app_checked_name,
                    app_checked_key_hash=checked.app_checked_key_hash,
                    app_checked_at=checked.app_checked_at,
                    confirm_manual_deploys=production_like(plan.name),
                    **plan.values,
                )
            audit.record(
                project,
                request.user,
                "environments.imported",
                environments=[plan.name for plan in plans],
            )
    except IntegrityError:
        form.add_error(
            "circle_yml",
            "Nothing was imported: an environment of the same name was created meanwhile. "
            "Press Preview import again to see what changed.",
        )
        return False
    names = ", ".join(plan.name for plan in plans)
    messages.success(request, f"Imported {names} from circle.yml. Check their deploy options.")
    for overlap in setup.branch_overlaps(project):
        messages.warning(request, overlap)
    for plan in plans:
        for warning in plan.warnings:
            messages.warning(request, f"{plan.name}: {warning}")
    return True
