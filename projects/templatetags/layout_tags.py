"""The top bar (templates/base.html): the brand, the project switcher and the user menu.

Every signed-in page draws them, so they are plain strings with every text escaped and the URLs
reversed once per process, not template loops: as template tags they cost more than a kept page
body (projects/pagecache.py) takes to serve.
"""

import functools

from django import template
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import mark_safe

from projects.access import can_create_projects

register = template.Library()


@functools.cache
def _urls() -> dict:
    return {
        "home": reverse("home"),
        "project": reverse("project", args=["-"])[:-2],  # + slug + "/"
        "new": reverse("project_new"),
        "admin": reverse("admin:index"),
        "queues": reverse("django_rq:home"),
        "tokens": reverse("api_tokens"),
        "invitations": reverse("invitations"),
        "logout": reverse("logout"),
    }


@register.simple_tag(takes_context=True)
def top_bar(context):
    request, urls = context.get("request"), _urls()
    brand = f'<a class="brand" href="{urls["home"]}">herokucd</a>'
    if request is None or not request.user.is_authenticated:
        return mark_safe(brand)  # noqa: S308
    return mark_safe(  # noqa: S308  (every value below is escaped)
        brand
        + _switcher(urls, request.user, context.get("nav_projects", ()), context.get("project"))
        + '<span class="spacer"></span>'
        + _user_menu(urls, request, context.get("csrf_placeholder"))
    )


def _switcher(urls, user, projects, current):
    items = "".join(_project_item(urls, project, current) for project in projects)
    if can_create_projects(user):
        items += f'<li><a href="{urls["new"]}">+ New project</a></li>'
    title = escape(current.name) if current else "Projects"
    return f'<details class="menu switcher"><summary>{title}</summary><ul>{items}</ul></details>'


def _project_item(urls, project, current):
    here = ' aria-current="page"' if current and project.pk == current.pk else ""
    href = f"{urls['project']}{escape(project.slug)}/"
    return f'<li><a href="{href}"{here}>{escape(project.name)}</a></li>'


def _user_menu(urls, request, token=None):
    user = request.user
    staff = (
        f'<li><a href="{urls["admin"]}">Admin</a></li>'
        f'<li><a href="{urls["invitations"]}">Invite users</a></li>'
        f'<li><a href="{urls["queues"]}">Queues</a></li>'
        if user.is_staff
        else ""
    )
    token = escape(token or get_token(request))  # a placeholder when projects.layout keeps it
    return (
        f'<details class="menu user-menu"><summary>{escape(user.username)}</summary><ul>{staff}'
        f'<li><a href="{urls["tokens"]}">API tokens</a></li>'
        f'<li><form method="post" action="{urls["logout"]}">'
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{token}">'
        f'<button type="submit" class="link">Sign out</button></form></li></ul></details>'
    )
