"""Who may use the settings pages: members read, admins change, outsiders get 404."""

import pytest

from projects.models import Environment
from tests.projects.test_wizard_fixtures import *  # noqa: F403
from tests.projects.test_wizard_fixtures import SETTINGS

pytestmark = pytest.mark.django_db


@pytest.fixture
def urls(project):
    e = Environment.objects.create(project=project, name="s", branch="main", app_name="abc")
    options = f"{SETTINGS}environments/{e.pk}/"
    return {
        "settings": SETTINGS,
        "options": options,
        "delete": options + "delete/",
        "import": SETTINGS + "import/",
    }


@pytest.mark.parametrize("name", ["settings", "options", "delete", "import"])
def test_signed_out_visitors_are_sent_to_sign_in(client, urls, name):
    response = client.get(urls[name])
    assert response.status_code == 302 and response.url.startswith("/login/")


@pytest.mark.parametrize("name", ["settings", "options", "delete", "import"])
def test_an_outsider_gets_404_on_every_settings_url(outsider, urls, name):
    assert outsider.get(urls[name]).status_code == 404
    assert outsider.post(urls[name], {"name": "x"}).status_code == 404


@pytest.mark.parametrize("who", ["viewer", "deployer"])
def test_members_below_admin_read_settings_and_options(request, urls, who):
    member = request.getfixturevalue(who)
    assert member.get(urls["settings"]).status_code == 200
    assert member.get(urls["options"]).status_code == 200


@pytest.mark.parametrize("who", ["viewer", "deployer"])
@pytest.mark.parametrize("name", ["options", "delete", "import"])
def test_members_below_admin_cannot_change_anything(request, urls, who, name):
    member = request.getfixturevalue(who)
    assert member.post(urls[name], {"name": "x", "circle_yml": "x"}).status_code == 403
    assert Environment.objects.get().name == "s"


@pytest.mark.parametrize("who", ["viewer", "deployer"])
def test_members_below_admin_do_not_get_the_delete_or_import_pages(request, urls, who):
    member = request.getfixturevalue(who)
    assert member.get(urls["delete"]).status_code == 403
    assert member.get(urls["import"]).status_code == 403
