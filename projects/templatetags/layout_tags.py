"""Helpers of the top bar (templates/includes/top_bar.html)."""

from django import template

from projects.access import can_create_projects

register = template.Library()

# The switcher's "New project" link.
register.filter("can_create_projects", can_create_projects)
