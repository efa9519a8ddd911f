"""Every page carries a strict Content-Security-Policy and refuses to be framed."""

import pytest


@pytest.mark.django_db
def test_pages_forbid_inline_script_and_framing(client, alice):
    response = client.get("/login/")
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_pages_of_a_signed_in_user_are_never_cached(client_for, alice, project):
    for url in ["/", "/projects/foo-bar/", "/projects/foo-bar/heroku/setup/1/"]:
        response = client_for(alice).get(url)
        assert "no-store" in response["Cache-Control"], url
        assert "private" in response["Cache-Control"], url
