"""Every URL needs a signed-in user, except the few that are public by design."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

# Public by design: signing in, the first administrator (404 once a user exists), an invitation's
# link and password reset, the signed CI webhook, the token-authenticated JSON API,
# and the admin's own sign-in page.
PUBLIC = re.compile(
    r"^/(login/|logout/|setup/first-admin/|account/(invitation|password-reset|reset)/|admin/login/"
    r"|admin/logout/|hooks/|api/|static/)"
)
# django-rq's statistics for monitoring tools: a token or a staff session, else 401.
TOKEN_JSON = re.compile(r"^/admin/(django_rq/dashboard|rq)/stats\.json/$")
# The sign-in page, or the admin's own for its pages, asked to come back.
SIGN_IN = re.compile(r"^/(admin/)?login/\?next=/")
SAMPLES = {"slug": "foo-bar", "int": "1", "str": "x", "path": "x/y", "uuid": "0" * 32}


def all_paths(patterns=None, prefix=""):
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from all_paths(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield "/" + fill(route)


def fill(route):
    route = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES.get(m.group(1) or "str", "x"), route)
    route = re.sub(r"\(\?P<\w+>[^)]*\)", "x", route)
    return route.replace("^", "").replace("$", "").replace("\\", "").replace("/?", "/")


def test_every_page_sends_a_signed_out_visitor_to_sign_in(client):
    checked = 0
    for path in sorted(set(all_paths())):
        if PUBLIC.match(path):
            continue
        for method in (client.get, client.post):
            response = method(path)
            if TOKEN_JSON.match(path):
                assert response.status_code == 401, (path, method.__name__, response.status_code)
                continue
            assert response.status_code == 302, (path, method.__name__, response.status_code)
            assert SIGN_IN.match(response["Location"]), (path, response["Location"])
        checked += 1
    assert checked >= 30
