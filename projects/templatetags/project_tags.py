"""Template helpers of the project pages: relative times and form fields with their errors.

`reltime` says times the way the deploy pages do (deploys/templatetags/deploy_tags.py), without
projects depending on deploys: "just now" under a minute, else "3 minutes ago" in the largest
whole unit, the exact time on hover.
"""

from django import template
from django.utils import timezone
from django.utils.html import format_html

from projects import audit

register = template.Library()

# Longest first; a month is 30 days and a year 365, as "3 months ago" needs no more precision.
UNITS = [
    (365 * 86400, "year"),
    (30 * 86400, "month"),
    (7 * 86400, "week"),
    (86400, "day"),
    (3600, "hour"),
    (60, "minute"),
]


def ago(value, now=None) -> str:
    """ "3 minutes ago" in the largest whole unit, "just now" under a minute (or in the future)."""
    seconds = ((now or timezone.now()) - value).total_seconds()
    for size, name in UNITS:
        if seconds >= size:
            count = int(seconds // size)
            return f"{count}\xa0{name}{'' if count == 1 else 's'} ago"
    return "just now"


@register.filter
def reltime(value, now=None):
    """`<time>` saying "3 minutes ago", the exact time on hover."""
    if not value:
        return ""
    exact = timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z")
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', value.isoformat(), exact, ago(value, now)
    )


@register.simple_tag
def field_widget(field):
    """The field's input, marked invalid and described by its error and help text when set,
    so a screen reader reads the error with the field."""
    described = [f"{field.auto_id}_error_{n}" for n in range(len(field.errors))]
    if field.help_text:
        described.append(f"{field.auto_id}_helptext")
    attrs = {"aria-describedby": " ".join(described)} if described else {}
    if field.errors:
        attrs["aria-invalid"] = "true"
    return field.as_widget(attrs=attrs)


@register.filter
def option_label(name):
    """An environment option's label as the settings form shows it ("Git ref on Heroku")."""
    return audit.label_for(name)


@register.filter
def option_value(value, name):
    return audit.shown(name, value)
