"""The layout around a page's content (templates/base.html), rendered once per process for the
same inputs: the busiest pages (the project page, the deploy history) spend more on the layout
than on their kept content (projects/pagecache.py).

The layout is a function of what its key holds: the template (its title and head), the person
(name, staff or not), the projects in their switcher and the current one. Everything else varies
per request and is filled in each time: the sign-out form's CSRF token (the layout holds a
placeholder) and the content. A request with messages to show is rendered in full.
"""

import secrets

from django.contrib import messages
from django.core.cache import caches
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template.loader import render_to_string

from projects import pagecache
from projects.access import can_create_projects, memberships_of

# Unguessable, so no content or name can contain them.
TOKEN = f"csrf-{secrets.token_hex(16)}"
BODY = f"body-{secrets.token_hex(16)}"


def render_page(request, template, context, body) -> HttpResponse:
    """`template` with `body` as its content. The template extends base.html and shows nothing
    but `{{ body }}` and the project's name (in its title) from its context."""
    if messages.get_messages(request):
        return render(request, template, {**context, "body": body})
    before, after = _layout(request, template, context)
    token = get_token(request)
    return HttpResponse(before.replace(TOKEN, token) + body + after)


def _layout(request, template, context) -> tuple[str, str]:
    user, project = request.user, context.get("project")
    switcher = tuple(
        (m.project.pk, m.project.slug, m.project.name) for m in memberships_of(request)
    )
    current = (project.pk, project.name) if project else None
    creates = can_create_projects(user)  # the switcher's "New project" link
    key = (template, user.pk, user.get_username(), user.is_staff, creates, switcher, current)
    key = f"layout:{pagecache.digest(key)}"
    layout = caches["pages"].get(key)
    if layout is None:
        html = render_to_string(
            template, {**context, "body": BODY, "csrf_placeholder": TOKEN}, request
        )
        layout = tuple(html.split(BODY))
        caches["pages"].set(key, layout, None)
    return layout
