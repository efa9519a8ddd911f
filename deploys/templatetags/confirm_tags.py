"""`{% confirm_form action_url "kind" object label="…" %}`: a destructive action's button that
asks first (deploys/confirmations.py)."""

from django import template

from deploys import confirmations

register = template.Library()


@register.inclusion_tag("includes/confirm_form.html", takes_context=True)
def confirm_form(context, action, kind, obj, label="", css="danger"):
    confirmation = confirmations.ACTIONS[kind](obj)
    return {
        "csrf_token": context.get("csrf_token"),
        "action": action,
        "confirmation": confirmation,
        "label": label or confirmation.button,
        "css": css,
    }
