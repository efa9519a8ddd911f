"""The Heroku setup wizard: API key (step 1), deploy user and SSH key (step 2), apps (step 3).

Every view starts with get_project_for_user(..., Role.ADMIN): only admins set up a project.
Each Heroku call happens before anything is saved, so a Heroku error leaves the previous
state intact and the page says why.
"""

import contextlib

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Max
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from herokucd import heroku
from herokucd.crypto import keyed_hash
from projects import audit, branch_check, setup, sshkeys
from projects.access import get_project_for_user
from projects.models import DeployKey, HerokuCredential, Role
from projects.setup_forms import ApiKeyForm, EnvironmentForm
from projects.signals import secrets_changed

SHARED_KEY_WARNING = (
    "Another herokucd project already uses this Heroku API key. Heroku allows 75 git "
    "requests per hour per key, so use a different key per project."
)


def _credential(project):
    return HerokuCredential.objects.filter(project=project).first()


def _deploy_key(project):
    return DeployKey.objects.filter(project=project).select_related("deploy_user").first()


def _render(request, project, step, context):
    context.update(
        project=project,
        step=step,
        steps=_stepper(project, step),
        missing=setup.missing_steps(project),
    )
    return render(request, f"projects/setup/step{step}.html", context)


def _stepper(project, current):
    done = setup.done_steps(project)
    return [
        {
            "step": k,
            "label": label,
            "url": setup.step_url(project, k),
            "done": k in done,
            "current": k == current,
        }
        for k, label in setup.STEPS.items()
    ]


# -- Entry and step 1 -------------------------------------------------------------------------


@login_required
def wizard(request, slug):
    """Step 1; a GET on a half-finished setup resumes at the first step not done."""
    project, _ = get_project_for_user(request, slug, Role.ADMIN)
    missing = setup.missing_steps(project)
    if request.method == "GET" and missing and missing[0]["step"] != 1:
        return redirect(missing[0]["url"])
    return api_key_step(request, project)


@login_required
def step(request, slug, number):
    project, _ = get_project_for_user(request, slug, Role.ADMIN)
    views = {1: api_key_step, 2: deploy_user_step, 3: environments_step}
    if number not in views:
        raise Http404("The setup has three steps.")
    return views[number](request, project)


def api_key_step(request, project):
    credential = _credential(project)
    stored_mask = credential.masked_key if credential else ""
    form = ApiKeyForm(request.POST or None, stored_mask=stored_mask)
    if request.method == "POST" and form.is_valid():
        key = form.cleaned_data["api_key"]
        if not key:
            messages.info(request, "Kept the stored Heroku API key.")
            return redirect(setup.step_url(project, 2))
        account = _check_key(form, key)
        if account is not None:
            _save_credential(request, project, credential, key, account)
            return redirect(setup.step_url(project, 2))
    return _render(request, project, 1, {"form": form, "credential": credential})


def _check_key(form, key):
    """Heroku's account for `key`, or None with the reason added to the form."""
    try:
        with setup.client_with_key(key) as client:
            return client.account()
    except heroku.Unauthorized:
        form.add_error("api_key", "Heroku rejected this API key. Check it and paste it again.")
    except heroku.HerokuError as error:
        form.add_error("api_key", f"Could not reach Heroku, nothing was saved: {error}")
    return None


def _save_credential(request, project, credential, key, account):
    digest = keyed_hash(key)
    replaced = credential is not None
    values = {
        "api_key": key,
        "key_hash": digest,
        "account_email": account.get("email", ""),
        "account_id": account.get("id", ""),
        "validated_at": timezone.now(),
        "set_by": request.user,
    }
    with transaction.atomic():
        HerokuCredential.objects.update_or_create(project=project, defaults=values)
        action = "credential.replaced" if replaced else "credential.set"
        audit.record(project, request.user, action, heroku_account=values["account_email"])
        if replaced and credential.api_key != key:
            # The old key is only in memory now: the scrub keeps it encrypted until it ends.
            secrets_changed.send(
                sender=HerokuCredential,
                project=project,
                actor=request.user,
                reason="The Heroku API key was replaced",
                values=[credential.api_key],
            )
    messages.success(request, f"Saved the API key of Heroku account {values['account_email']}.")
    if HerokuCredential.objects.filter(key_hash=digest).exclude(project=project).exists():
        messages.warning(request, SHARED_KEY_WARNING)
    _warn_if_account_changed(request, project, credential, account)


def _warn_if_account_changed(request, project, old, account):
    deploy_key = _deploy_key(project)
    if old and deploy_key and deploy_key.public_key and old.account_id != account.get("id"):
        messages.warning(
            request,
            f"The SSH key is registered on {deploy_key.heroku_email}, not on this account: "
            "replace it in step 2.",
        )


# -- Step 2 -----------------------------------------------------------------------------------


def deploy_user_step(request, project):
    credential = _credential(project)
    if credential is None:
        messages.error(request, "Save a Heroku API key first: step 2 registers a key with it.")
        return redirect(setup.step_url(project, 1))
    context = {"credential": credential, "deploy_key": _deploy_key(project)}
    return _render(request, project, 2, context)


@login_required
@require_POST
def deploy_user_action(request, slug, action):
    project, _ = get_project_for_user(request, slug, Role.ADMIN)
    if _credential(project) is None:
        messages.error(request, "Save a Heroku API key first: step 2 registers a key with it.")
        return redirect(setup.step_url(project, 1))
    actions = {"set-user": _set_deploy_user, "replace": _replace_key, "remove": _remove_key}
    if action not in actions:
        raise Http404("No such action.")
    try:
        with setup.client_for(project) as client:
            actions[action](request, project, client)
    except heroku.HerokuError as error:
        messages.error(request, f"Heroku did not do it, nothing was changed: {error}")
    return redirect(setup.step_url(project, 2))


def _set_deploy_user(request, project, client):
    deploy_key = _deploy_key(project) or DeployKey(project=project)
    if deploy_key.heroku_key_id:
        _swap_key(request, project, client, deploy_key)
    else:
        _register_key(project, client, deploy_key)
    deploy_key.deploy_user = request.user
    deploy_key.heroku_email = project.heroku_credential.account_email
    with transaction.atomic():
        deploy_key.save()
        audit.record(
            project,
            request.user,
            "deploy_user.set",
            deploy_user=request.user.username,
            heroku_account=deploy_key.heroku_email,
            fingerprint=deploy_key.fingerprint,
        )
    messages.success(
        request, f"{request.user.username} is the deploy user; the key is registered on Heroku."
    )


def _replace_key(request, project, client):
    deploy_key = _deploy_key(project)
    if deploy_key is None or not deploy_key.deploy_user_id:
        messages.error(request, "Set the deploy user first.")
        return
    old = deploy_key.fingerprint
    _swap_key(request, project, client, deploy_key)
    with transaction.atomic():
        deploy_key.save()
        audit.record(
            project,
            request.user,
            "deploy_key.replaced",
            fingerprint={"from": old, "to": deploy_key.fingerprint},
        )
    messages.success(request, "Replaced the SSH key; the old one is removed from Heroku.")


def _remove_key(request, project, client):
    deploy_key = _deploy_key(project)
    if deploy_key is None or not deploy_key.heroku_key_id:
        messages.info(request, "There is no SSH key to remove.")
        return
    _delete_on_heroku(client, deploy_key.heroku_key_id)
    old = deploy_key.fingerprint
    deploy_key.public_key = deploy_key.private_key = deploy_key.fingerprint = ""
    deploy_key.heroku_key_id = ""
    with transaction.atomic():
        deploy_key.save()
        audit.record(project, request.user, "deploy_key.removed", fingerprint=old)
    messages.success(request, "Removed the SSH key from Heroku and from herokucd.")


def _register_key(project, client, deploy_key):
    """Generate a key pair and register it on Heroku; fills `deploy_key` without saving it."""
    pair = sshkeys.generate(f"herokucd-{project.slug}")
    registered = client.add_key(pair.public_key)
    deploy_key.public_key = pair.public_key
    deploy_key.private_key = pair.private_key
    deploy_key.fingerprint = pair.fingerprint
    deploy_key.heroku_key_id = (registered or {}).get("id") or pair.fingerprint


def _swap_key(request, project, client, deploy_key):
    """Register a new key, then remove the old one; if that fails, take the new one back."""
    old_id = deploy_key.heroku_key_id
    _register_key(project, client, deploy_key)
    try:
        _delete_on_heroku(client, old_id)
    except heroku.HerokuError:
        _delete_on_heroku(client, deploy_key.heroku_key_id)
        raise


def _delete_on_heroku(client, key_id):
    # Already gone from the account is the outcome we wanted.
    with contextlib.suppress(heroku.NotFound):
        client.remove_key(key_id)


# -- Step 3 -----------------------------------------------------------------------------------


def environments_step(request, project):
    if _credential(project) is None:
        messages.error(request, "Save a Heroku API key first: step 3 checks app names with it.")
        return redirect(setup.step_url(project, 1))
    with setup.client_for(project) as client:
        form = EnvironmentForm(request.POST or None, project=project, client=client)
        if request.method == "POST" and form.is_valid():
            _add_environment(request, project, form)
            return redirect(setup.step_url(project, 3))
    context = {
        "form": form,
        "environments": project.environments.all(),
        "overlaps": setup.branch_overlaps(project),
    }
    return _render(request, project, 3, context)


def _add_environment(request, project, form):
    environment = form.save(commit=False)
    environment.project = project
    last = project.environments.aggregate(last=Max("position"))["last"]
    environment.position = 0 if last is None else last + 1
    with transaction.atomic():
        environment.save()
        audit.record(
            project,
            request.user,
            "environment.added",
            environment=environment.name,
            branch=environment.branch,
            app_name=environment.app_name,
        )
    messages.success(
        request,
        f"Added {environment.name}: branch {environment.branch} deploys to "
        f"{environment.app_name}. Add another or adjust its deploy options in Settings.",
    )
    if environment.confirm_manual_deploys:
        messages.info(
            request,
            f"Manual deploys to {environment.name} ask for confirmation first; change it in its "
            "deploy options.",
        )
    for overlap in setup.branch_overlaps(project):
        messages.warning(request, overlap)
    for warning in branch_check.check(project, environment.branch):
        messages.warning(request, warning)
