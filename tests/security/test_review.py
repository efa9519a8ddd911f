"""Attacks found on review of the access and repository changes."""

import pytest

from projects.models import Project

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def anyone_creates_projects(settings):
    settings.PROJECT_CREATORS = "everyone"


def new_project(client, url):
    data = {"name": "Evil", "slug": "evil", "repository_url": url, "default_branch": "main"}
    return client.post("/projects/new/", data)


@pytest.mark.parametrize(
    "url",
    [
        "ssh://[-oProxyCommand=touch /tmp/x]/repo.git",  # not an IPv6 address
        "https://[::1/repo.git",  # an unclosed bracket
        "file:///%00",  # a NUL byte once decoded
    ],
)
def test_a_malformed_repository_url_is_a_form_error_not_a_server_error(client_for, charlie, url):
    response = new_project(client_for(charlie), url)
    assert response.status_code == 200
    assert "not a valid repository URL" in response.content.decode()
    assert not Project.objects.filter(slug="evil").exists()


@pytest.mark.parametrize(
    "url",
    [
        "git+ssh://%2DoProxyCommand=touch%20%2Ftmp%2Fpwned/x",  # git decodes the host for ssh
        "ssh://%2doProxyCommand=touch%20%2Ftmp%2Fpwned@host/x",  # ... and the user
        "ssh://-oProxyCommand=touch%20%2Ftmp%2Fpwned@host/x",
    ],
)
def test_an_encoded_ssh_option_as_host_or_user_is_refused_by_herokucd(client_for, charlie, url):
    response = new_project(client_for(charlie), url)
    assert "This URL names no host" in response.content.decode()
    assert not Project.objects.filter(slug="evil").exists()
