"""Template tags for the triggers panel that other pages include."""

from django import template
from django.utils import timezone
from django.utils.timesince import timeuntil

register = template.Library()


@register.simple_tag
def git_budgets(project):
    """Per environment: the git requests left this hour for the project's key and app."""
    from deploys import ratelimit

    credential = getattr(project, "heroku_credential", None)
    if credential is None:
        return []
    return [
        ratelimit.budget(credential.key_hash, environment.app_name, environment=environment)
        for environment in project.environments.all()
    ]


@register.simple_tag
def previous_secret_status(endpoint):
    until = endpoint.previous_valid_until
    if until and until > timezone.now():
        return f"still accepted for {timeuntil(until)}"
    return "no longer accepted"


@register.simple_tag(takes_context=True)
def webhook_url(context, endpoint):
    """The webhook's URL: SITE_URL's, else the host and port this page was requested at."""
    return endpoint.url_for(context.get("request"))
