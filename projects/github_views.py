"""The project's GitHub token (deployment statuses, deploys/github.py): admins save it once
GitHub accepted it, or remove it; members see it masked on the settings page."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils import timezone

from herokucd import github
from projects import audit
from projects.access import get_project_for_user
from projects.models import GitHubToken, Role


class GitHubTokenForm(forms.Form):
    token = forms.CharField(
        label="GitHub token",
        strip=True,
        max_length=255,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="A fine-grained token with Deployments: read and write on the repository "
        "(or a classic token with repo_deployment). herokucd checks it with GitHub before "
        "saving it, encrypted.",
    )

    def clean_token(self):
        token = self.cleaned_data["token"]
        if not token.isprintable() or " " in token:
            raise forms.ValidationError("A GitHub token is one word of letters, digits and _.")
        return token


def why_off(project) -> str:
    """Why GitHub deployment statuses cannot work for the project, "" when they can."""
    if github.repository_of(project.repository_url) is None:
        return (
            "Off: the project's repository is not a github.com repository, so there is no "
            "GitHub repository to report deploys to."
        )
    return ""


@login_required
def github_token(request, slug):
    project, membership = get_project_for_user(request, slug, Role.ADMIN)
    stored = GitHubToken.objects.filter(project=project).first()
    form = GitHubTokenForm(request.POST or None)
    if request.method == "POST" and request.POST.get("action") == "remove":
        return _remove(request, project, stored)
    if request.method == "POST" and form.is_valid():
        login = _check(form, form.cleaned_data["token"])
        if login is not None:
            _save(request, project, form.cleaned_data["token"], login, replaced=stored is not None)
            return redirect("project_settings", slug=project.slug)
    context = {
        "project": project,
        "membership": membership,
        "form": form,
        "stored": stored,
        "off": why_off(project),
        "repository": github.repository_of(project.repository_url),
    }
    return render(request, "projects/settings/github.html", context)


def _check(form, token) -> str | None:
    """The login GitHub says the token is of, None with the reason on the form."""
    try:
        return github.account(token)
    except github.TokenRefused as refused:
        form.add_error("token", f"{refused} Nothing was saved.")
    except github.GitHubError as error:
        form.add_error("token", f"Could not check the token, nothing was saved: {error}")
    return None


def _save(request, project, token, login, replaced):
    now, user = timezone.now(), request.user
    values = {"token": token, "login": login, "validated_at": now, "set_by": user}
    with transaction.atomic():
        GitHubToken.objects.update_or_create(project=project, defaults=values)
        action = "github_token.replaced" if replaced else "github_token.set"
        audit.record(project, request.user, action, github_account=login)
    messages.success(request, f"Saved the GitHub token of {login}: deploys now show on GitHub.")


def _remove(request, project, stored):
    if stored is not None:
        with transaction.atomic():
            stored.delete()
            audit.record(project, request.user, "github_token.removed", github_account=stored.login)
        messages.success(request, "Removed the GitHub token: deploys no longer show on GitHub.")
    return redirect("project_settings", slug=project.slug)
