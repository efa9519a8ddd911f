"""Forms of the setup wizard: the Heroku API key (step 1) and an environment (step 3)."""

import re

from django import forms
from django.utils.safestring import mark_safe

from herokucd import heroku
from projects.branches import clean_branch
from projects.models import Environment

UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# The three forms Heroku has issued (docs/heroku.md §3.2): bare UUID, HRKU-<uuid>, HRKU-<60 chars>.
API_KEY = re.compile(rf"\A(?:{UUID}|HRKU-{UUID}|HRKU-[0-9A-Za-z_-]{{60}})\Z")
KEY_FORMS = (
    "a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), HRKU- followed by a UUID, "
    "or HRKU- followed by 60 letters, digits, - or _"
)
# Environment names that ask before a manual deploy unless told otherwise (a word of the name).
PRODUCTION_LIKE = re.compile(r"(?:^|[^a-z0-9])(?:production|prod|prd|live)(?:$|[^a-z0-9])", re.I)
APP_NAME = re.compile(r"\A[a-z][a-z0-9-]{1,28}[a-z0-9]\Z")
UPPERCASE_APP_NAME = "The Heroku app name must not include upper-case characters."
# Heroku's own wording for its app name rule (docs/heroku.md §3.1).
APP_NAME_RULE = (
    "Name must start with a letter, end with a letter or digit and can only contain "
    "lowercase letters, numbers, and dashes."
)


class ApiKeyForm(forms.Form):
    api_key = forms.CharField(
        label="Heroku API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        # Marked safe for its <code>; every other help text is escaped (includes/field.html).
        help_text=mark_safe(
            "From Heroku: Account settings → API Key, or <code>heroku authorizations:create"
            "</code>. herokucd checks it with Heroku before saving it, encrypted."
        ),
    )

    def __init__(self, *args, stored_mask="", **kwargs):
        super().__init__(*args, **kwargs)
        self.stored_mask = stored_mask
        if stored_mask:
            placeholder = f"A key ending {stored_mask[-4:]} is saved; leave empty to keep it"
            self.fields["api_key"].widget.attrs["placeholder"] = placeholder

    def clean_api_key(self):
        key = "".join(self.cleaned_data["api_key"].split())
        if not key and not self.stored_mask:
            raise forms.ValidationError("Paste the Heroku API key of the deploy account.")
        if key and not API_KEY.match(key):
            raise forms.ValidationError(
                f"This does not look like a Heroku API key. Expected {KEY_FORMS}."
            )
        return key


def app_name_field():
    # No max_length here: check_app_name says "too long" in Heroku's words instead.
    return forms.CharField(
        label="App name",
        help_text=mark_safe(
            "The app on Heroku, as in <code>heroku apps:info -a &lt;name&gt;</code>."
        ),
    )


class EnvironmentChecks:
    """What both environment forms (setup step 3, the settings page) check alike."""

    def __init__(self, *args, project, client=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.project, self.client = project, client
        if "deploy_method" in self.fields:
            self.fields["deploy_method"].required = False

    def clean_deploy_method(self):
        # A form sent without it (a script, a page from before the option) changes nothing.
        return self.cleaned_data.get("deploy_method") or self.instance.deploy_method

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        others = self.project.environments.exclude(pk=self.instance.pk)
        if others.filter(name__iexact=name).exists():
            raise forms.ValidationError(f"This project already has an environment “{name}”.")
        return name

    def clean_branch(self):
        return clean_branch(self.cleaned_data["branch"])


class EnvironmentForm(EnvironmentChecks, forms.ModelForm):
    """Step 3: an environment's name, branch and Heroku app, checked with the stored key."""

    app_name = app_name_field()

    class Meta:
        model = Environment
        fields = ["name", "branch", "app_name", "deploy_method"]
        labels = {"name": "Environment"}
        help_texts = {
            "branch": "An exact name (main), a /regex/ as in CircleCI (/feature_.*/), or "
            "several names separated by commas.",
        }

    def clean_app_name(self):
        name = self.cleaned_data["app_name"].strip()
        check_app_name(name)
        if self.client is not None:
            check_app_for(self.instance, self.project, self.client, name)
        return name

    def save(self, commit=True):
        if self.instance.pk is None:
            self.instance.confirm_manual_deploys = production_like(self.instance.name)
        return super().save(commit)


def production_like(name: str) -> bool:
    """Whether manual deploys to an environment of this name ask first by default."""
    return bool(PRODUCTION_LIKE.search(name))


def check_app_name(name: str) -> None:
    if name != name.lower():
        raise forms.ValidationError(UPPERCASE_APP_NAME)
    if not APP_NAME.match(name):
        if len(name) > 30:
            raise forms.ValidationError("Name is too long (maximum is 30 characters).")
        raise forms.ValidationError(APP_NAME_RULE)


def check_app_for(environment, project, client, name: str) -> None:
    """Ask Heroku with the project's key whether it reaches app `name`; on success record it
    on `environment` (unsaved) with its web URL, else a ValidationError saying what to do."""
    credential = project.heroku_credential
    app = check_app_on_heroku(client, name, credential.account_email)
    environment.web_url = app.get("web_url") or ""
    environment.record_app_check(name, credential.key_hash)


def check_app_on_heroku(client, name: str, email: str) -> dict:
    """Heroku's app `name` as the project's key (of account `email`) sees it, or a
    ValidationError saying why not and what to do.

    GET /apps/{app} answers 200 only to the app's owner and collaborators (who may deploy
    it); 403 to other accounts and 404 when no app has the name (docs/heroku.md §1.2)."""
    try:
        return client.app(name)
    except heroku.NotFound:
        raise forms.ValidationError(
            f"herokucd's key for this project cannot reach app {name}: there is no app of "
            f"that name, or it is not shared with {email}. Check the name, or ask its owner "
            f"to add {email} as a collaborator."
        ) from None
    except heroku.Forbidden:
        raise forms.ValidationError(
            f"herokucd's key for this project cannot reach app {name}: ask its owner to add "
            f"{email} as a collaborator."
        ) from None
    except heroku.HerokuError as error:
        raise forms.ValidationError(
            f"Could not check app {name} with Heroku, nothing was saved: {error}. Try again."
        ) from None
