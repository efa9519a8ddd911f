"""How deploys read on every page: durations as `1m 12s`, times relative with the exact time on
hover, states as a word plus a colour.
"""

from datetime import timedelta

from django import template
from django.utils import timezone
from django.utils.html import format_html

from deploys import ratelimit
from deploys.live import mark
from projects.templatetags.project_tags import reltime

register = template.Library()


@register.filter
def duration(value):
    """A timedelta (or seconds) as `1m 12s`, `2h 5m`, `8s`; empty when unknown."""
    if value is None or value == "":
        return ""
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {seconds}s"
    return f"{seconds}s"


# One vocabulary for times on every page: the projects app owns it.
register.filter("reltime", reltime)


@register.filter
def state_badge(state, label=None):
    """The one state vocabulary: a word plus a colour, never colour alone."""
    if not state:
        return ""
    return format_html(
        '<span class="badge state state-{}">{}</span>', state, label or str(state).capitalize()
    )


@register.simple_tag
def deploy_rows(deploys, live=None):
    """What each row of a deploys table (templates/deploys/_deploy_rows.html) shows beyond the
    deploy: whether its release is live (`live`: {environment pk: LiveRelease}) and how long
    it ran."""
    now, live = timezone.now(), live or {}
    return [_row(deploy, now, live.get(deploy.environment_id)) for deploy in deploys]


def _row(deploy, now, record):
    elapsed = (deploy.finished_at or now) - deploy.started_at if deploy.started_at else None
    return {"deploy": deploy, "live": mark(deploy, record), "record": record, "elapsed": elapsed}


@register.filter
def git_budget(budget, now=None):
    """What is left of Heroku's git rate limit for one app and key (deploys.ratelimit.Budget):
    "71 of 75 git requests left this hour", or when Heroku said 429, until when it waits."""
    if budget is None:
        return "—"
    now = now or timezone.now()
    if budget.retry_at and budget.retry_at > now:
        return format_html(
            '<span class="budget budget-paused">Heroku refused pushes (429): waiting until {}'
            "</span>",
            _clock(budget.retry_at),
        )
    low = " budget-low" if budget.remaining < 2 * ratelimit.PUSH_COST else ""
    text = format_html(
        '<span class="budget{}">{} of {} git requests left this hour</span>',
        low,
        budget.remaining,
        budget.limit,
    )
    if budget.used and budget.next_free:
        return format_html(
            '{} <span class="muted">· more from {}</span>', text, _clock(budget.next_free)
        )
    return text


def _clock(value):
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        local.strftime("%Y-%m-%d %H:%M:%S %Z"),
        local.strftime("%H:%M"),
    )
