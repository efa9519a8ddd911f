from django import forms
from django.core.validators import EmailValidator, URLValidator

from deploys.trigger_models import ApiToken, NotificationTarget
from herokucd import http
from projects.settings_forms import MaskedURLInput


class NotificationTargetForm(forms.ModelForm):
    class Meta:
        model = NotificationTarget
        fields = [
            "environment",
            "kind",
            "address",
            "slack_format",
            "on_failed",
            "on_succeeded",
            "on_recovered",
        ]
        widgets = {"address": MaskedURLInput()}

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["environment"].queryset = project.environments.all()
        self.fields["environment"].empty_label = None

    def clean(self):
        data = super().clean()
        kind, address = data.get("kind"), (data.get("address") or "").strip()
        if kind == NotificationTarget.EMAIL:
            self._check(address, EmailValidator(), "Enter an email address, like ops@example.com.")
        elif kind == NotificationTarget.WEBHOOK:
            message = "Enter an http:// or https:// URL, like https://hooks.example.com/deploys."
            if self._check(address, URLValidator(schemes=["http", "https"]), message):
                self._check_policy(address)
        if not any(data.get(name) for name in ("on_failed", "on_succeeded", "on_recovered")):
            raise forms.ValidationError("Choose at least one event to be told about.")
        return data

    def _check(self, address, validator, message) -> bool:
        try:
            validator(address)
        except forms.ValidationError:
            self.add_error("address", message)
            return False
        return True

    def _check_policy(self, address):
        """An internal address is refused now, in the words the delivery would use."""
        try:
            http.check_url(address, "Notification")
        except http.Refused as refused:
            self.add_error("address", str(refused))


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What uses it, e.g. “release script”. Only you see it."
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if ApiToken.objects.filter(user=self.user, name=name).exists():
            raise forms.ValidationError("You already have a token with this name: pick another.")
        return name
