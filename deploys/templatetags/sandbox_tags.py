"""Whether custom commands run outside the sandbox, for the pages where commands are edited."""

from django import template

from deploys import sandbox

register = template.Library()


@register.simple_tag
def commands_unsandboxed() -> bool:
    return not sandbox.enabled()
