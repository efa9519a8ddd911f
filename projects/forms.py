from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.utils.text import slugify

from herokucd import git
from projects.access_models import SetupToken, token_hash
from projects.models import Membership, Project, Role

# Slugs that a project's URL /projects/<slug>/ would share with another page.
RESERVED_SLUGS = {"new"}


class NewUserForm(UserCreationForm):
    """A username, an optional email (for password resets) and a password typed twice."""

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ["username", "email"]
        error_messages = {"username": {"required": "Choose a username to sign in with."}}
        help_texts = {"email": "Optional: where a password reset link is sent."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["password1"].error_messages["required"] = "Choose a password."
        self.fields["password2"].error_messages["required"] = "Type the same password again."


class FirstAdminForm(NewUserForm):
    setup_token = forms.CharField(
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Printed in the console by make run (manage.py serve) and in the release "
        "phase's log on Heroku; python manage.py setup_token prints a new one.",
        error_messages={"required": "Paste the setup token printed in the console or log."},
    )
    field_order = ["setup_token", "username", "email", "password1", "password2"]

    def clean_setup_token(self):
        token = self.cleaned_data["setup_token"]
        if not SetupToken.objects.filter(token_hash=token_hash(token)).exists():
            raise forms.ValidationError(
                "This is not the current setup token. Copy it again from the console or log, "
                "or run `python manage.py setup_token` for a new one."
            )
        return token


class RepositoryURLInput(forms.TextInput):
    """Shows a typed-in URL back with its token masked, never in the input's value."""

    def format_value(self, value):
        try:
            url, userinfo = git.split_userinfo(value or "")
        except ValueError:  # unreadable (a bad [host]): not shown back, it may hold a token
            return None
        return git.masked(url, userinfo) or None


class ProjectForm(forms.ModelForm):
    slug = forms.SlugField(
        required=False,
        help_text="Used in URLs. Leave empty to make one from the name.",
    )

    class Meta:
        model = Project
        fields = ["name", "slug", "repository_url", "default_branch"]
        widgets = {"repository_url": RepositoryURLInput(attrs={"autocomplete": "off"})}
        help_texts = {
            "default_branch": "The branch deploys start from when none is given.",
            "repository_url": "An https or ssh git URL. A token in an https URL "
            "(https://ci-bot:TOKEN@github.com/...) is stored encrypted and never shown again.",
        }
        error_messages = {
            "name": {"required": "Give the project a name, e.g. the app's."},
            "repository_url": {"required": "Give the repository's git URL."},
            "default_branch": {"required": "Name the branch deploys start from, e.g. main."},
        }

    def clean_slug(self):
        slug = self.cleaned_data.get("slug") or slugify(self.cleaned_data.get("name", ""))
        if not slug:
            raise forms.ValidationError("Give the project a name or a slug made of letters.")
        if slug in RESERVED_SLUGS:
            raise forms.ValidationError(
                f"“{slug}” is taken by a page of herokucd (/projects/{slug}/): choose another slug."
            )
        if Project.objects.filter(slug=slug).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(f"A project with the slug “{slug}” already exists.")
        return slug

    def clean_repository_url(self):
        url = self.cleaned_data["repository_url"].strip()
        try:
            git.check_repository_url(url)
        except git.RepositoryRefused as refused:
            raise forms.ValidationError(str(refused)) from None
        url, userinfo = git.split_userinfo(url)
        if git.MASK in userinfo:
            raise forms.ValidationError(
                "Type the repository's token again: herokucd does not keep it in the page."
            )
        # Kept apart from the URL, encrypted (Project.repository_userinfo).
        self.instance.repository_userinfo = userinfo
        return url

    def clean(self):
        data = super().clean()
        url, branch = data.get("repository_url"), data.get("default_branch")
        if url and not self.has_error("repository_url"):
            self._check_repository(url, self.instance.repository_userinfo, branch)
        return data

    def _check_repository(self, url, userinfo, branch):
        try:
            branches = git.ls_remote_heads(url, userinfo)
        except git.GitError as error:
            self.add_error(
                "repository_url",
                f"{error}. Check the URL, and that the workers can reach it without a prompt "
                "(a token in an https URL, or the workers' ssh key).",
            )
            return
        if branch and branches and branch not in branches:
            shown = ", ".join(sorted(branches)[:10])
            self.add_error(
                "default_branch", f"The repository has no branch “{branch}”. It has: {shown}."
            )


class AddMemberForm(forms.Form):
    username = forms.CharField(help_text="The member's herokucd username.")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.DEPLOYER)

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise forms.ValidationError(f"There is no user “{username}”. Ask an administrator.")
        if Membership.objects.filter(project=self.project, user=user).exists():
            raise forms.ValidationError(f"{username} is already a member; change the role below.")
        return user


class RoleForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["role"]
