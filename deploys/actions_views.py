"""The Deploy button and the cancel, retry, rollback and promote actions (deployers and admins)."""

import re

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from deploys import (
    confirmations,
    gates,
    live,
    manual,
    mirror,
    outgoing,
    promotion,
    scrub,
    services,
)
from deploys.models import Deploy
from projects import audit, branches
from projects.access import get_project_for_user
from projects.models import Role

COMMIT = re.compile(r"[0-9a-f]{7,40}")


class DeployForm(forms.Form):
    environment = forms.ModelChoiceField(queryset=None, empty_label=None)
    ref = forms.CharField(
        label="Branch or commit",
        max_length=255,
        help_text="A branch name deploys its latest commit; a commit sha (7 to 40 characters) "
        "deploys exactly that commit.",
    )
    # A recent commit picked from the list under the field: it wins over `ref` when set.
    commit = forms.CharField(required=False, widget=forms.HiddenInput)
    # The commit (or "branch") the confirmation page showed, sent by its button.
    confirmed = forms.CharField(required=False, widget=forms.HiddenInput)
    # An admin starting it despite a lock or freeze window (deploys/gates.py): audited.
    override = forms.BooleanField(label="Override the lock or freeze window", required=False)
    override_reason = forms.CharField(
        label="Reason for the override",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required: why this deploy cannot wait. Kept in the audit trail and shown on "
        "the deploy's page.",
    )

    def __init__(self, project, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["environment"].queryset = project.environments.all()
        self.fields["environment"].label_from_instance = lambda env: f"{env.name} ({env.app_name})"

    def clean_ref(self):
        ref = self.cleaned_data["ref"].strip()
        if not branches.is_name(ref):  # a commit sha is a valid name too
            raise forms.ValidationError(
                "This is not a branch name or a commit sha: use letters, digits, - _ . / only, "
                "for example main or 3f2a9c1."
            )
        return ref

    def clean_commit(self):
        commit = self.cleaned_data["commit"].strip().lower()
        if commit and not COMMIT.fullmatch(commit):
            raise forms.ValidationError("Pick a commit from the list, or leave the list alone.")
        return commit

    def clean_confirmed(self):
        confirmed = self.cleaned_data["confirmed"].strip().lower()
        if confirmed and confirmed != "branch" and not COMMIT.fullmatch(confirmed):
            raise forms.ValidationError("Press Deploy again and confirm what it shows.")
        return confirmed

    def target(self) -> dict:
        """What to deploy: a picked commit, a confirmed commit (of the branch typed, which it
        was the tip of when confirmed), or the ref as typed."""
        data = self.cleaned_data
        ref = data["commit"] or data["ref"]
        confirmed = "" if data["confirmed"] == "branch" else data["confirmed"]
        if COMMIT.fullmatch(ref):
            return {"sha": confirmed if confirmed.startswith(ref) else ref}
        return {"branch": ref, "sha": confirmed} if confirmed else {"branch": ref}

    def override_value(self):
        """None: no override asked for; else its reason (blank: gates.check refuses it)."""
        data = self.cleaned_data
        return data["override_reason"] if data["override"] else None

    def needs_confirmation(self) -> bool:
        return (
            self.cleaned_data["environment"].confirm_manual_deploys
            and not (self.cleaned_data["confirmed"])
        )


@login_required
def deploy_new(request, slug):
    """The Deploy form; for an environment that asks first, a confirmation page between the
    form and the deploy (server-side: it works without JavaScript)."""
    project, membership = get_project_for_user(request, slug, Role.DEPLOYER)
    environments = list(project.environments.all())
    if not environments:
        messages.warning(request, "Add an environment first: it says which Heroku app to deploy.")
        return redirect(project)
    wanted = request.POST.get("environment") or request.GET.get("environment")
    chosen = _chosen(environments, wanted)
    ref = request.GET.get("ref", "")[:255]  # "Deploy the held commit" links name it
    initial = {"ref": ref or manual.suggested_ref(chosen), "environment": chosen.pk}
    form = DeployForm(project, request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        environment = form.cleaned_data["environment"]
        decision = gates.check(environment, user=request.user, override=form.override_value())
        if decision.refused or decision.held:
            blank = decision.refused == gates.NEEDS_REASON  # said next to the field
            form.add_error("override_reason" if blank else None, _held_words(decision, membership))
            return _form_page(request, project, form, environments, chosen, membership)
        if form.needs_confirmation():
            return _confirm(request, project, form)
        try:
            deploy = services.request_deploy(
                environment, user=request.user, override=form.override_value(), **form.target()
            )
        except services.DeployError as error:
            form.add_error(None, str(error))  # the form is shown again as it was filled in
        else:
            audit.record(project, request.user, "deploy.requested", number=deploy.number)
            return redirect(deploy)
    return _form_page(request, project, form, environments, chosen, membership)


def _held_words(decision, membership) -> str:
    if decision.refused:
        return decision.refused
    if membership.is_admin:
        return f"{decision.why_not} To deploy anyway, tick the override and say why."
    return f"{decision.why_not} Only an admin of the project can override it."


def _form_page(request, project, form, environments, chosen, membership):
    held = {env.pk: gates.check(env) for env in environments}
    context = {
        "membership": membership,
        "holds": [(env, held[env.pk]) for env in environments if held[env.pk].held],
        "project": project,
        "form": form,
        "environments": environments,
        "chosen": chosen,
        "suggestions": {env.pk: manual.suggested_ref(env) for env in environments},
        "commit_lists": manual.commit_lists(project, environments),
        "cloned": mirror.is_cloned(project),
        "fetched_at": mirror.fetched_at(project),
    }
    return render(request, "deploys/actions/deploy_new.html", context)


def _chosen(environments, wanted):
    """The environment `?environment=<id>` names, else the first one."""
    return next((env for env in environments if str(env.pk) == wanted), environments[0])


def _confirm(request, project, form):
    environment = form.cleaned_data["environment"]
    confirmation = manual.confirmation(environment, form.target())
    context = {
        "project": project,
        "form": form,
        "confirmation": confirmation,
        "fetched_at": mirror.fetched_at(project),
    }
    return render(request, "deploys/actions/deploy_confirm.html", context)


def _deploy(request, slug, number):
    project, _ = get_project_for_user(request, slug, Role.DEPLOYER)
    return get_object_or_404(
        Deploy.objects.select_related("project"), project=project, number=number
    )


@login_required
@require_POST
def deploy_cancel(request, slug, number):
    deploy = _deploy(request, slug, number)
    if not deploy.is_finished and not confirmations.is_confirmed(request):
        return confirmations.ask(
            request, confirmations.cancel_deploy(deploy), deploy.get_absolute_url()
        )
    try:
        services.cancel_deploy(deploy, request.user)
    except services.DeployError as error:
        messages.error(request, str(error))
    else:
        audit.record(deploy.project, request.user, "deploy.canceled", number=deploy.number)
        done = "Canceled" if deploy.is_finished else "Canceling: the current step stops"
        messages.success(request, f"{done} deploy #{deploy.number}.")
    return redirect(deploy)


@login_required
@require_POST
def deploy_retry(request, slug, number):
    deploy = _deploy(request, slug, number)
    try:
        retry = services.retry_deploy(deploy, request.user)
    except services.DeployError as error:
        messages.error(request, str(error))
        return redirect(deploy)
    audit.record(deploy.project, request.user, "deploy.retried", number=deploy.number)
    return redirect(retry)


@login_required
def deploy_rollback(request, slug, number):
    """Roll the deploy's environment back to a chosen earlier release: the confirmation names
    where the app is and where it will go; `?to=<deploy number>` preselects that deploy's."""
    deploy = _deploy(request, slug, number)
    if request.method == "POST":
        try:
            shown_app = request.POST.get("app")  # the app the page named
            release = request.POST.get("release")
            rollback = services.rollback_deploy(
                deploy, request.user, release, shown_app, _restore_asked(request.POST, release)
            )
        except services.DeployError as error:
            messages.error(request, str(error))
            return redirect("deploy_rollback", slug, number)
        restored = {"restore": rollback.restore_backup_name} if rollback.restore_backup_name else {}
        audit.record(
            deploy.project,
            request.user,
            "deploy.rolled_back",
            number=deploy.number,
            rollback=rollback.number,
            to_version=rollback.rollback_version,
            to_commit=rollback.sha,
            **restored,
        )
        return redirect(rollback)
    context = {"project": deploy.project, "deploy": deploy}
    if deploy.environment is not None:
        context |= _rollback_context(deploy, request.GET.get("to", ""))
    return render(request, "deploys/actions/rollback_confirm.html", context)


def _restore_asked(data, release) -> tuple[str, str] | None:
    """(backup name, typed app name) when the restore of the chosen release was ticked. Each
    release has its own fields; one ticked under another release is refused, not ignored."""
    version = str(release or "").strip().removeprefix("v")
    ticked = [key for key in data if key.startswith("restore-") and data.get(key)]
    if any(key != f"restore-{version}" for key in ticked):
        raise services.DeployError(
            "The database restore you ticked belongs to another release than the one chosen: "
            "choose again; nothing was started."
        )
    if not ticked:
        return None
    return data[f"restore-{version}"], data.get(f"confirm-app-{version}", "")


def _rollback_context(deploy, to) -> dict:
    environment = deploy.environment
    choices = live.rollback_choices(environment)
    wanted = int(to) if to.isascii() and to.isdigit() and len(to) < 10 else None
    selected = choices.default(wanted)
    problem = ""
    if wanted is not None and (
        selected is None or selected.deploy is None or selected.deploy.number != wanted
    ):
        problem = _not_a_target(deploy.project, wanted, choices)
    offers = live.restore_offers(environment, [target.version for target in choices.all])
    return {
        "environment": environment,
        "choices": choices,
        "selected": selected,
        "to_problem": problem,
        "offers": [
            (target, offers[target.version]) for target in choices.all if target.version in offers
        ],
    }


def _not_a_target(project, number, choices) -> str:
    """Why `?to=<number>` is not offered, in the user's words."""
    wanted = Deploy.objects.filter(project=project, number=number).first()
    if wanted is None:
        return f"There is no deploy #{number}: choose a release below."
    if not wanted.release_version:
        return f"Deploy #{number} has no Heroku release to roll back to: choose another below."
    if choices.live and choices.live.version == wanted.release_version:
        version = wanted.release_version
        return f"Deploy #{number}'s release v{version} is live now: choose an earlier one."
    return (
        f"Deploy #{number} is not a succeeded deploy of this environment that Heroku can roll "
        "back to: choose a release below."
    )


@login_required
def deploy_promote(request, slug, number):
    """Promote the release this deploy made to the next environment of its Heroku pipeline.
    The page asks Heroku first and names the source release and commit, the target app and what
    runs there; anything Heroku would refuse is said here, before anything starts. `?to=<id>`:
    the environment chosen when several are coupled at the next stage."""
    deploy = _deploy(request, slug, number)
    target_id = request.POST.get("to") or request.GET.get("to") or None
    if request.method == "POST":
        shown = (request.POST.get("app", ""), request.POST.get("release", ""))
        try:
            made = promotion.request_promotion(deploy, request.user, target_id, shown)
        except services.DeployError as error:  # PromotionRefused too
            messages.error(request, str(error))
            query = f"?to={target_id}" if target_id and target_id.isdigit() else ""
            return redirect(reverse("deploy_promote", args=[slug, number]) + query)
        audit.record(
            deploy.project,
            request.user,
            "deploy.promoted",
            number=deploy.number,
            promotion=made.number,
            to=made.environment_name,
            release=made.promotion_source_version,
        )
        return redirect(made)
    context = {"project": deploy.project, "deploy": deploy}
    try:
        plan = promotion.plan(deploy, target_id)
    except promotion.PromotionRefused as refused:
        context["refused"] = str(refused)
    else:
        context |= {"plan": plan, "steps": manual.promotion_steps(plan)}
        context["outgoing"] = outgoing.between(
            deploy.project, plan.live_commit, plan.commit, outgoing.globs_of(plan.target)
        )
        context["unchanged"] = manual.unchanged(plan.target)
    return render(request, "deploys/actions/promote_confirm.html", context)


@login_required
@require_POST
def scrub_again(request, slug):
    """Scrub the stored logs again with the project's secrets as they are now (its key, SSH key
    and every environment's secret config vars as Heroku has them): after a scrub that could
    not finish. A replaced key is not among them: herokucd keeps no old key."""
    project, _ = get_project_for_user(request, slug, Role.ADMIN)
    names = scrub.secret_config_vars(project)
    scrub.start(project, request.user, "Scrub requested from the settings page", config_vars=names)
    messages.success(request, "Queued a scrub of the stored logs: its progress shows below.")
    return redirect(reverse("project_settings", args=[slug]) + "#log-scrubs")
