"""What is live, as the cards and the deploy page show it (deploys/live.py)."""

from django import template

from deploys import live, outgoing

register = template.Library()


@register.simple_tag
def live_release(environment):
    """The environment's LiveRelease as its page's query loaded it, None when there is none for
    its app yet; a read from Heroku is queued when it is old (the page does not wait for it)."""
    if environment is None:
        return None
    record = live.of(environment)
    live.ask_if_stale(environment, record)
    return record if record is not None and record.app_name == environment.app_name else None


@register.simple_tag
def live_mark(deploy, record):
    """Whether the deploy's release is the live one: "live", "replaced" or "" (unknown)."""
    return live.mark(deploy, record)


@register.simple_tag
def behind_branch(project, environment, record):
    """How many commits the environment's branch has that its live commit lacks (the local
    mirror, no Heroku call); None when unknown."""
    if environment is None or record is None or not record.commit:
        return None
    return outgoing.behind_branch(project, environment, record.commit)
