"""Local repository paths and ssh URLs that would lead git where a project must not read."""

import shutil

import pytest

from deploys import mirror
from projects.models import Project
from tests.gitrepo import GitRepo

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


@pytest.fixture
def other_mirror(project):
    """Another project's mirror in the data folder, as a deploy leaves it."""
    path = mirror.mirror_path(project)
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    GitRepo.create(path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_gitfile_or_dot_git_sibling_in_an_allowed_folder_cannot_reach_the_data_folder(
    client_for, charlie, other_mirror, tmp_path
):
    # The tests allow the temporary folder; anyone able to write in an allowed folder could
    # leave these. git follows "gitdir:" files, and tries <path>.git when <path> is missing.
    gitfile_folder = tmp_path / "innocent"
    gitfile_folder.mkdir()
    (gitfile_folder / ".git").write_text(f"gitdir: {other_mirror / '.git'}\n")
    plain_gitfile = tmp_path / "plain"
    plain_gitfile.write_text(f"gitdir: {other_mirror / '.git'}\n")
    (tmp_path / "sibling.git").symlink_to(other_mirror)
    for path in (gitfile_folder, plain_gitfile, tmp_path / "sibling"):
        response = new_project(client_for(charlie), str(path))
        assert "Local paths are not allowed" in response.content.decode(), path
    assert not Project.objects.filter(slug="evil").exists()
