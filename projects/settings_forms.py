"""Forms of the settings page: an environment's deploy options, and the circle.yml import."""

import re
from urllib.parse import urlsplit

from django import forms
from django.db import models

from herokucd import http
from projects.models import SASL_CACHES, Environment, MaintenanceMode
from projects.setup_forms import EnvironmentChecks, app_name_field, check_app_for, check_app_name

# Heroku caps a one-off dyno's time_to_live at one day (docs/heroku.md §2.6).
MAX_TIMEOUT = 86400
PROCESS_TYPE = re.compile(r"\A[-\w]{1,128}\Z")  # formation type pattern (docs/heroku.md §2.3)
CONFIG_VAR = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
MIGRATION_PRESETS = {
    "none": ("No migrations", ""),
    "rails": ("Rails: rake db:migrate", "rake db:migrate"),
    "django": ("Django: python manage.py migrate", "python manage.py migrate"),
    "node": ("Node: db-migrate up", "db-migrate up"),
    "custom": ("Custom command", None),
}
TEXT_FIELDS = {"pre_deploy_commands", "post_deploy_commands"}


def preset_for(command: str) -> str:
    for key, (_, preset) in MIGRATION_PRESETS.items():
        if preset == command:
            return key
    return "custom"


def _formfield(field, **kwargs):
    # URLs without a scheme mean https, as Django 6 will assume.
    if isinstance(field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return field.formfield(**kwargs)


class MaskedURLInput(forms.TextInput):
    """A URL shown back in its input (a form sent again after an error) has its password
    masked: a password is never in a page."""

    def format_value(self, value):
        try:
            return super().format_value(http.masked(value) if value else value)
        except ValueError:  # a URL Python cannot split: show nothing of it
            return None


class EnvironmentOptionsForm(EnvironmentChecks, forms.ModelForm):
    app_name = app_name_field()
    migration_preset = forms.ChoiceField(
        label="Migrations",
        choices=[(key, label) for key, (label, _) in MIGRATION_PRESETS.items()],
        help_text="Run in a one-off dyno after the push. Pick Custom to type your own command.",
    )

    class Meta:
        model = Environment
        formfield_callback = _formfield
        fields = [
            "name",
            "branch",
            "app_name",
            "auto_deploy",
            "confirm_manual_deploys",
            "deploy_method",
            "heroku_branch",
            "force_push",
            "maintenance_mode",
            "maintenance_page_url",
            "keep_maintenance_after_failed_migration",
            "scale_down_types",
            "when_commit_on_heroku",
            "migration_command",
            "migration_timeout",
            "backup_before_migrate",
            "migration_globs",
            "cache_flush",
            "cache_config_vars",
            "pre_deploy_commands",
            "pre_deploy_timeout",
            "post_deploy_commands",
            "post_deploy_timeout",
            "secret_config_vars",
            "health_check_url",
            "health_check_status",
            "health_check_text",
            "health_check_retries",
            "health_check_delay",
            "auto_rollback",
            "auto_promote",
        ]
        labels = {
            "name": "Environment",
            "force_push": "Force push",
            "maintenance_mode": "Maintenance mode",
            "keep_maintenance_after_failed_migration": "Keep maintenance mode on when a "
            "migration fails",
            "migration_command": "Custom migration command",
            "cache_flush": "Cache flush after deploy",
            "pre_deploy_commands": "Pre-deploy commands",
            "pre_deploy_timeout": "Pre-deploy timeout (seconds)",
            "post_deploy_commands": "Post-deploy commands",
            "post_deploy_timeout": "Post-deploy timeout (seconds)",
            "health_check_url": "Health check URL",
            "health_check_status": "Expected status",
            "health_check_text": "Expected text",
            "health_check_retries": "Retries",
        }
        help_texts = {
            "heroku_branch": "git push only: the branch of Heroku's git repository pushed to.",
            "force_push": "git push only.",
            "maintenance_page_url": "Set on the app as its MAINTENANCE_PAGE_URL config var.",
            "migration_command": "Used when Migrations is Custom.",
            "health_check_text": "Optional: text the page must contain. Setting only this "
            "checks the app's web URL.",
            "health_check_url": "Empty: the app's web URL as Heroku reports it. A password in "
            "it (https://user:password@host/...) is stored encrypted and shown as ••••: leave "
            "•••• to keep it, type a new one to replace it.",
        }
        widgets = {
            "health_check_url": MaskedURLInput(),
            "pre_deploy_commands": forms.Textarea(attrs={"rows": 3}),
            "post_deploy_commands": forms.Textarea(attrs={"rows": 3}),
        }

    # The model's fields in their order, with the preset picker just before the command.
    field_order = Meta.fields[: Meta.fields.index("migration_command")]
    field_order += ["migration_preset", *Meta.fields[len(field_order) :]]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["migration_preset"].initial = (
            preset_for(self.instance.migration_command) if self.instance.pk else "none"
        )
        # The stored password is never put in the input: it shows ••••, kept when sent back.
        self.initial["health_check_url"] = self.instance.shown_health_check_url

    def clean_app_name(self):
        name = self.cleaned_data["app_name"].strip()
        check_app_name(name)
        # Checked on every save, not only when the name changes: the app may have been taken
        # from the key since, or the row saved without a check.
        if self.client is None:
            raise forms.ValidationError(
                "Save a Heroku API key first (setup step 1): herokucd checks the app with it."
            )
        check_app_for(self.instance, self.project, self.client, name)
        return name

    def clean_scale_down_types(self):
        return _names(self.cleaned_data["scale_down_types"], PROCESS_TYPE, "process type")

    def clean_cache_config_vars(self):
        return _names(self.cleaned_data["cache_config_vars"], CONFIG_VAR, "config var")

    def clean_secret_config_vars(self):
        return _names(self.cleaned_data["secret_config_vars"], CONFIG_VAR, "config var")

    def clean_pre_deploy_commands(self):
        return _lines(self.cleaned_data["pre_deploy_commands"])

    def clean_post_deploy_commands(self):
        return _lines(self.cleaned_data["post_deploy_commands"])

    def clean_health_check_url(self):
        """The URL with its password: •••• sent back keeps the stored one. A URL whose host is
        internal is refused now, in the words the deploy log would use."""
        url, userinfo = http.split_userinfo(self.cleaned_data["health_check_url"])
        if userinfo and http.MASK in userinfo:
            userinfo = self._kept_userinfo(url, userinfo)
        self.instance.health_check_userinfo = userinfo
        if url:
            try:
                http.check_url(url, "Health check")
            except http.Refused as refused:
                raise forms.ValidationError(str(refused)) from None
        return http.with_userinfo(url, userinfo)

    def _kept_userinfo(self, url, submitted):
        """The stored password under the submitted user name. Only for the same host: else
        whoever edits the URL could send the password to a host of their own."""
        stored = self.instance.health_check_userinfo
        if urlsplit(url).netloc != urlsplit(self.instance.health_check_url).netloc or not stored:
            raise forms.ValidationError(
                "Type the password again: •••• keeps the stored password only while the host "
                "stays the same."
            )
        if submitted == http.MASK:
            return stored
        return f"{submitted.partition(':')[0]}:{stored.partition(':')[2]}"

    def clean_health_check_status(self):
        status = self.cleaned_data["health_check_status"]
        if not 100 <= status <= 599:
            raise forms.ValidationError("An HTTP status is a number from 100 to 599, e.g. 200.")
        return status

    def clean_health_check_retries(self):
        return _at_most(self.cleaned_data["health_check_retries"], 20, "retries")

    def clean_health_check_delay(self):
        return _at_most(self.cleaned_data["health_check_delay"], 300, "seconds")

    def clean(self):
        data = super().clean()
        self._apply_preset(data)
        for name in ("migration_timeout", "pre_deploy_timeout", "post_deploy_timeout"):
            self._check_timeout(data, name)
        self._check_needs_migration(data)
        if data.get("auto_promote") and not (
            data.get("health_check_url") or data.get("health_check_text")
        ):
            self.add_error(
                "auto_promote",
                "Only a healthy deploy is promoted: set a health check URL or expected text "
                "above, or leave this off.",
            )
        self._check_cache(data)
        return data

    def _check_cache(self, data):
        kind = data.get("cache_flush")
        if kind in SASL_CACHES:
            # The add-on's own config var unless another attachment name is given.
            data["cache_config_vars"] = data.get("cache_config_vars") or SASL_CACHES[kind]
            names = Environment.split_names(data["cache_config_vars"])
            if not all(name.endswith("_SERVERS") for name in names):
                self.add_error(
                    "cache_config_vars",
                    "This add-on names its config vars NAME_SERVERS, NAME_USERNAME and "
                    "NAME_PASSWORD: give the NAME_SERVERS one, e.g. "
                    f"{SASL_CACHES[kind]}.",
                )
        elif kind and not data.get("cache_config_vars"):
            self.add_error(
                "cache_config_vars",
                "Name the config var that holds the cache URL, e.g. REDIS_URL, or turn the "
                "cache flush off.",
            )

    def _apply_preset(self, data):
        preset = data.get("migration_preset")
        if preset and preset != "custom":
            data["migration_command"] = MIGRATION_PRESETS[preset][1]
        elif preset == "custom" and not data.get("migration_command", "").strip():
            self.add_error("migration_command", "Type the migration command, or pick a preset.")

    def _check_timeout(self, data, name):
        value = data.get(name)
        if value is not None and not 1 <= value <= MAX_TIMEOUT:
            self.add_error(
                name, f"Give a number of seconds from 1 to {MAX_TIMEOUT} (Heroku's one-day cap)."
            )

    def _check_needs_migration(self, data):
        if data.get("migration_command"):
            return
        if data.get("backup_before_migrate"):
            self.add_error(
                "backup_before_migrate",
                "The backup runs before migrations: pick a migration command or turn this off.",
            )
        if data.get("maintenance_mode") == MaintenanceMode.MIGRATIONS:
            self.add_error(
                "maintenance_mode",
                "There are no migrations to wrap: pick a migration command, or choose Off or "
                "Every deploy.",
            )

    def changes(self) -> dict:
        """What changed, for the audit trail: {field: {from, to}} (commands: just "changed";
        URLs without their password).

        Compared with the stored values, not the submitted ones: a preset changes the
        migration command without the command field being edited.
        """
        changed = {}
        for name in self._meta.fields:
            old, new = self.initial.get(name), self.cleaned_data.get(name)
            if name == "health_check_url":
                old, new = shown_url(old), shown_url(new)  # the initial value is masked
            if old == new:
                continue
            if name in TEXT_FIELDS:
                changed[name] = "changed"
            else:
                changed[name] = {"from": shown_url(old), "to": shown_url(new)}
        return changed


def shown_url(value):
    """A URL as the trail shows it (password ••••); other values as they are."""
    return http.masked(value) if isinstance(value, str) else value


def _names(value, pattern, kind):
    names = Environment.split_names(value)
    bad = [name for name in names if not pattern.match(name)]
    if bad:
        raise forms.ValidationError(
            f"“{bad[0]}” is not a valid {kind} name: use letters, digits and _, separated by "
            "commas."
        )
    return ", ".join(names)


def _lines(value):
    return "\n".join(line.strip() for line in value.splitlines() if line.strip())


def _at_most(value, limit, unit):
    if value > limit:
        raise forms.ValidationError(f"At most {limit} {unit}.")
    return value


class CircleImportForm(forms.Form):
    circle_yml = forms.CharField(
        label="circle.yml",
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}),
        help_text="Paste the whole file. Only its deployment: section is read.",
    )
