"""How deploys read on every page: durations as `1m 12s`, times relative with the exact time on
hover, states as a word plus a colour.

The deploy rows and chart bars are built here rather than in template loops: with 25 rows and
50 bars, the template language (a `{% url %}` and a `timesince` per row) cost more than the rest
of the history page together (bench/pages.py).
"""

from datetime import timedelta
from html import escape

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from deploys import ratelimit
from deploys.live import mark
from deploys.templatetags.queue_tags import place_html
from projects.templatetags.project_tags import ago, reltime

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


def deploy_url_prefix(project) -> str:
    """`/projects/<slug>/deploys/`: a deploy's page is this plus `<number>/` (see urls_views)."""
    return reverse("deploy_history", args=[project.slug])


@register.simple_tag
def deploy_rows(project, deploys, live=None):
    """The `<tr>` of each deploy in a deploys table (templates/deploys/_deploy_rows.html);
    `live`: {environment pk: LiveRelease}, to say whose release is live now."""
    prefix, now, live = deploy_url_prefix(project), timezone.now(), live or {}
    rows = (_row(prefix, deploy, now, live.get(deploy.environment_id)) for deploy in deploys)
    return mark_safe("".join(rows))  # noqa: S308


def _row(prefix, deploy, now, live=None):
    # Plain f-strings with every text escaped: format_html costs ~4x more per value.
    by = deploy.triggered_by
    by = f' <span class="muted">by {escape(by.username)}</span>' if by else ""
    return (
        f'<tr><td><a href="{prefix}{deploy.number}/">#{deploy.number}</a></td>'
        f"<td>{_badge(deploy.state, deploy.get_state_display())}{_live(deploy, live)}"
        f"{place_html(prefix, getattr(deploy, 'waiting', None))}</td>"
        f'<td>{escape(deploy.environment_name)} <span class="muted mono">'
        f"{escape(deploy.app_name)}</span></td>"
        f'<td class="mono"><span class="branch">{escape(deploy.branch or "—")}</span> '
        f'<abbr title="{escape(deploy.sha)}">'
        f"{escape(deploy.short_sha)}</abbr></td>"
        f"<td>{escape(deploy.get_trigger_display())}{by}</td>"
        f'<td class="mono">{duration(_elapsed(deploy, now)) or "—"}</td>'
        f"<td>{_time(deploy.created_at, now)}</td></tr>"
    )


def _live(deploy, record):
    """ " Live now" / " replaced by v13" after the state: is the deploy's release still live?"""
    seen = mark(deploy, record)
    if seen == "live":
        return ' <span class="badge live-now">Live now</span>'
    if seen == "replaced":
        return f' <span class="muted live-replaced">replaced by v{record.version}</span>'
    return ""


def _badge(state, label):
    return f'<span class="badge state state-{escape(state)}">{escape(label)}</span>'


def _time(value, now):
    exact = timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z")
    return f'<time datetime="{value.isoformat()}" title="{exact}">{ago(value, now)}</time>'


def _elapsed(deploy, now):
    if not deploy.started_at:
        return None
    return (deploy.finished_at or now) - deploy.started_at


@register.simple_tag
def chart_bars(project, bars):
    """One linked `<rect>` per bar of `deploys.views.deploy_chart`, its details on hover."""
    prefix = deploy_url_prefix(project)
    return mark_safe("".join(_bar(prefix, bar) for bar in bars))  # noqa: S308


def _bar(prefix, bar):
    number, state = bar["number"], escape(bar["state"])
    title = f"#{number} {state} · {escape(bar['environment_name'])} · "
    title += duration(bar["seconds"]) or "not started"
    return (
        f'<a href="{prefix}{number}/"><rect class="bar bar-{state}" x="{bar["x"]}" '
        f'y="{bar["y"]}" width="{bar["width"]}" height="{bar["height"]}">'
        f"<title>{title}</title></rect></a>"
    )


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
