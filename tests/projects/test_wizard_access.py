"""Who may use the wizard: admins only; outsiders learn nothing (404), others get 403."""

import pytest

from tests.projects.test_wizard_fixtures import *  # noqa: F403
from tests.projects.test_wizard_fixtures import SETUP

pytestmark = pytest.mark.django_db
GETS = [SETUP, SETUP + "1/", SETUP + "2/", SETUP + "3/"]
POSTS = [SETUP, SETUP + "1/", SETUP + "3/"] + [
    SETUP + f"2/{action}/" for action in ("set-user", "replace", "remove")
]


@pytest.mark.parametrize("url", GETS + POSTS)
def test_signed_out_visitors_are_sent_to_sign_in(client, project, url):
    response = client.post(url) if url in POSTS else client.get(url)
    assert response.status_code == 302 and response.url.startswith("/login/")


@pytest.mark.parametrize("url", GETS)
def test_an_outsider_gets_404(outsider, url):
    assert outsider.get(url).status_code == 404


@pytest.mark.parametrize("url", POSTS)
def test_an_outsider_cannot_post(outsider, url):
    assert outsider.post(url, {"api_key": "x"}).status_code == 404


@pytest.mark.parametrize("url", GETS + POSTS)
@pytest.mark.parametrize("who", ["viewer", "deployer"])
def test_members_below_admin_get_403(request, who, url):
    member = request.getfixturevalue(who)
    response = member.post(url, {"api_key": "x"}) if url in POSTS else member.get(url)
    assert response.status_code == 403
