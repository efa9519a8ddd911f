"""How deploys read on every page: durations as `1m 12s`, times relative with the exact time on
hover, states as a word plus a colour."""

from datetime import timedelta

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

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


@register.filter
def reltime(value):
    """`<time>` saying "3 minutes ago", the exact UTC time on hover."""
    if not value:
        return ""
    exact = timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z")
    ago = timesince(value, depth=1)
    text = "just now" if ago.startswith("0\xa0minutes") else f"{ago} ago"
    return format_html('<time datetime="{}" title="{}">{}</time>', value.isoformat(), exact, text)


@register.filter
def state_badge(state, label=None):
    """The one state vocabulary: a word plus a colour, never colour alone."""
    if not state:
        return ""
    return format_html(
        '<span class="badge state state-{}">{}</span>', state, label or str(state).capitalize()
    )


