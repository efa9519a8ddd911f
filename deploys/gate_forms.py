"""The forms of the Protection page: a lock's reason, approval rules, a freeze window."""

from datetime import UTC

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from deploys import freeze
from projects.models import Environment, FreezeWindow, Role

WEEKDAY_CHOICES = list(enumerate(freeze.WEEKDAYS))
MAX_APPROVALS = 10
MAX_HOURS = 24 * 30


class LockForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=500,
        widget=forms.TextInput,
        help_text="Everyone sees it on the project page and on every deploy it holds.",
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why you lock it.")
        return reason


class ApprovalRulesForm(forms.ModelForm):
    class Meta:
        model = Environment
        fields = [
            "required_approvals",
            "approver_role",
            "approvers",
            "self_approval",
            "approval_hours",
            "lock_after_rollback",
        ]
        widgets = {"approvers": forms.CheckboxSelectMultiple}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        members = get_user_model().objects.filter(memberships__project=self.instance.project)
        self.fields["approvers"].queryset = members.order_by("username")
        self.fields["required_approvals"].max_value = MAX_APPROVALS
        self.fields["approval_hours"].min_value = 1
        self.fields["approval_hours"].max_value = MAX_HOURS

    def clean_required_approvals(self):
        count = self.cleaned_data["required_approvals"]
        if count > MAX_APPROVALS:
            raise forms.ValidationError(f"At most {MAX_APPROVALS} approvals.")
        return count

    def clean_approval_hours(self):
        hours = self.cleaned_data["approval_hours"]
        if not 1 <= hours <= MAX_HOURS:
            raise forms.ValidationError(f"Between 1 and {MAX_HOURS} hours (30 days).")
        return hours

    def clean(self):
        data = super().clean()
        needed = data.get("required_approvals") or 0
        if needed and "approvers" in data and "approver_role" in data:
            possible = self._possible_approvers(data)
            if possible < needed:
                raise forms.ValidationError(
                    f"{needed} approvals are required but only {possible} "
                    f"{'person' if possible == 1 else 'people'} may approve: name more "
                    "approvers, choose a wider role or require fewer approvals."
                )
        return data

    def _possible_approvers(self, data) -> int:
        if data["approvers"]:
            return len(data["approvers"])
        ranks = [r for r in Role.values if Role.rank(r) >= Role.rank(data["approver_role"])]
        return self.instance.project.memberships.filter(role__in=ranks).count()


class FreezeWindowForm(forms.Form):
    title = forms.CharField(max_length=100, help_text="For example “Year-end freeze”.")
    environment = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="Every environment of the project"
    )
    time_zone = forms.ChoiceField(label="Time zone", initial="UTC")
    weekly = forms.TypedChoiceField(
        label="Repeats",
        choices=[("", "Once"), ("1", "Every week")],
        coerce=bool,
        empty_value=False,
        required=False,
        widget=forms.RadioSelect,
    )
    starts_at = forms.DateTimeField(
        label="Starts",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Once: the day and time it starts, in the time zone above.",
    )
    ends_at = forms.DateTimeField(
        label="Ends",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    start_weekday = forms.TypedChoiceField(
        label="Every week from", choices=WEEKDAY_CHOICES, coerce=int, required=False
    )
    start_time = forms.TimeField(
        label="At", required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    end_weekday = forms.TypedChoiceField(
        label="Until", choices=WEEKDAY_CHOICES, coerce=int, required=False
    )
    end_time = forms.TimeField(
        label="At ", required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )

    def __init__(self, project, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        self.fields["environment"].queryset = project.environments.all()
        self.fields["time_zone"].choices = [(name, name) for name in freeze.zone_names()]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        window = FreezeWindow(
            project=self.project,
            environment=data.get("environment"),
            title=data["title"].strip(),
            time_zone=data["time_zone"],
            weekly=data.get("weekly") or False,
        )
        if window.weekly:
            self._weekly(window, data)
        else:
            self._once(window, data)
        if not self.errors:
            others = list(self.project.freeze_windows.all())
            for problem in freeze.problems(window, others, timezone.now()):
                self.add_error(None, problem)
        self.window = window
        return data

    def _weekly(self, window, data):
        for name in ("start_weekday", "start_time", "end_weekday", "end_time"):
            if data.get(name) in (None, ""):
                self.add_error(name, "Needed for a weekly window.")
            setattr(window, name, data.get(name))

    def _once(self, window, data):
        for name in ("starts_at", "ends_at"):
            value = data.get(name)
            if value is None:
                self.add_error(name, "Needed for a one-off window.")
                continue
            aware = self._aware(name, value, window.time_zone)
            setattr(window, name, aware)

    def _aware(self, name, value, zone_name):
        """The local time typed, in the window's zone; refused when the zone skips it."""
        naive = timezone.make_naive(value, UTC) if timezone.is_aware(value) else value
        tz = freeze.zone(zone_name)
        aware = naive.replace(tzinfo=tz)
        try:
            back = aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
        except OverflowError:  # past year 9999 or before year 1 in UTC
            self.add_error(name, f"{naive:%Y-%m-%d %H:%M} cannot be given in UTC: choose a date.")
            return None
        if back != naive:
            self.add_error(
                name,
                f"{naive:%Y-%m-%d %H:%M} does not exist in {zone_name}: the clocks go forward "
                "then. Choose another time.",
            )
        return aware

    def save(self, user) -> FreezeWindow:
        self.window.created_by = user
        self.window.save()
        return self.window
