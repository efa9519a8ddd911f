"""The Metrics page: a project's delivery metrics per week (deploys/metrics.py), for all its
environments or one, as server-rendered SVG bar charts with the numbers beside them."""

from datetime import timedelta

from django import forms
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from deploys import metrics
from deploys.templatetags.deploy_tags import duration
from projects.access import get_project_for_user

CHART_WIDTH, CHART_HEIGHT = 520, 120


class MetricsFilter(forms.Form):
    environment = forms.ChoiceField(label="Environment", required=False)
    weeks = forms.TypedChoiceField(
        label="Period",
        coerce=int,
        choices=list(metrics.PERIODS.items()),
        required=False,
        empty_value=metrics.DEFAULT_WEEKS,
        initial=metrics.DEFAULT_WEEKS,
    )

    def __init__(self, data, environments):
        super().__init__(data)
        self.environments = {str(env.pk): env for env in environments}
        choices = [("", "All environments")] + [(pk, e.name) for pk, e in self.environments.items()]
        self.fields["environment"].choices = choices

    def chosen(self):
        """(environment or None, weeks): the defaults where the query was not valid."""
        if not self.is_valid():
            return None, metrics.DEFAULT_WEEKS
        data = self.cleaned_data
        return self.environments.get(data["environment"]), data["weeks"] or metrics.DEFAULT_WEEKS


@login_required
@require_GET
def metrics_page(request, slug):
    project, membership = get_project_for_user(request, slug)
    environments = list(project.environments.all())
    form = MetricsFilter(request.GET or None, environments)
    environment, weeks = form.chosen()
    table = metrics.weeks_of(project, environment, weeks)
    ctx = {
        "project": project,
        "membership": membership,
        "form": form,
        "environment": environment,
        "weeks": table,
        "totals": metrics.totals(table),
        "window_hours": int(metrics.FAILURE_WINDOW.total_seconds() // 3600),
        "charts": charts(table),
    }
    return render(request, "deploys/metrics.html", ctx)


def charts(weeks) -> list[dict]:
    def seconds(value):
        return value.total_seconds() if value is not None else None

    return [
        chart("frequency", "Deployment frequency", [w.deploys for w in weeks], weeks, str),
        chart(
            "lead-time",
            "Lead time for changes",
            [seconds(w.lead_time) for w in weeks],
            weeks,
            lambda s: duration(_delta(s)),
        ),
        chart(
            "failure-rate",
            "Change failure rate",
            [w.failure_rate for w in weeks],
            weeks,
            lambda v: f"{v}%",
        ),
        chart(
            "restore",
            "Time to restore",
            [seconds(w.restore_time) for w in weeks],
            weeks,
            lambda s: duration(_delta(s)),
        ),
    ]


def _delta(seconds):
    return timedelta(seconds=round(seconds))


def chart(key, title, values, weeks, shown) -> dict:
    """Bars of `values` (None: no data that week) scaled to the largest."""
    top = max((v for v in values if v is not None), default=0) or 1
    slot = CHART_WIDTH / max(len(values), 1)
    bars = []
    for index, (value, week) in enumerate(zip(values, weeks, strict=True)):
        height = 0 if value is None else max(2, round((CHART_HEIGHT - 4) * value / top))
        label = "no data" if value is None else shown(value)
        bars.append(
            {
                "x": round(index * slot + slot * 0.15, 1),
                "y": CHART_HEIGHT - height,
                "width": round(slot * 0.7, 1),
                "height": height,
                "title": f"Week of {week.start:%Y-%m-%d}: {label}",
            }
        )
    return {"key": key, "title": title, "bars": bars, "width": CHART_WIDTH, "height": CHART_HEIGHT}
