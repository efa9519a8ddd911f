"""The project's GitHub token: checked with GitHub before it is saved, encrypted, never shown
but masked; only admins set or remove it."""

import pytest
from django.db import connection

from projects.models import AuditEvent, GitHubToken, Role
from tests.github.conftest import TOKEN

pytestmark = pytest.mark.django_db


def url(project):
    return f"/projects/{project.slug}/settings/github/"


def test_an_admin_saves_a_token_github_accepts(client_for, alice, github_project, github_sim):
    response = client_for(alice).post(url(github_project), {"token": TOKEN}, follow=True)
    assert "Saved the GitHub token of octocat" in response.content.decode()
    stored = GitHubToken.objects.get(project=github_project)
    assert (stored.token, stored.login) == (TOKEN, "octocat")
    page = client_for(alice).get(f"/projects/{github_project.slug}/settings/").content.decode()
    assert "••••••••" + TOKEN[-4:] in page and TOKEN not in page
    assert AuditEvent.objects.filter(action="github_token.set").exists()


def test_the_token_is_encrypted_in_the_database(client_for, alice, github_project, github_sim):
    client_for(alice).post(url(github_project), {"token": TOKEN})
    with connection.cursor() as cursor:
        cursor.execute("SELECT token FROM projects_githubtoken")
        (raw,) = cursor.fetchone()
    assert TOKEN not in raw and TOKEN[-8:] not in raw


def test_a_token_github_refuses_is_not_saved(client_for, alice, github_project, github_sim):
    response = client_for(alice).post(url(github_project), {"token": "ghp_revoked0000"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "GitHub refused this token (401: Bad credentials). Nothing was saved." in page
    assert "ghp_revoked0000" not in page  # the field is never filled back
    assert not GitHubToken.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="github_token").exists()


def test_github_unreachable_saves_nothing(client_for, alice, github_project, github_sim):
    github_sim.down = True
    page = client_for(alice).post(url(github_project), {"token": TOKEN}).content.decode()
    assert "Could not check the token, nothing was saved" in page
    assert not GitHubToken.objects.exists()


def test_a_refused_replacement_keeps_the_old_token(
    client_for, alice, github_project, github_sim, github_token
):
    client_for(alice).post(url(github_project), {"token": "ghp_wrong"})
    assert GitHubToken.objects.get().token == TOKEN


def test_an_admin_removes_the_token(client_for, alice, github_project, github_token):
    client_for(alice).post(url(github_project), {"action": "remove"})
    assert not GitHubToken.objects.exists()
    assert AuditEvent.objects.filter(action="github_token.removed").exists()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.DEPLOYER])
def test_only_admins_reach_the_token_page(client_for, bob_as, github_project, github_sim, role):
    bob = bob_as(role)
    assert client_for(bob).get(url(github_project)).status_code == 403
    assert client_for(bob).post(url(github_project), {"token": TOKEN}).status_code == 403
    assert not GitHubToken.objects.exists()


def test_an_outsider_learns_nothing(client_for, charlie, github_project):
    assert client_for(charlie).get(url(github_project)).status_code == 404


def test_the_page_says_why_statuses_are_off_for_a_repository_off_github(client_for, alice, project):
    page = client_for(alice).get(url(project)).content.decode()
    assert "not a github.com repository" in page


@pytest.mark.parametrize("bad", ["", "two words", "tab\there"])
def test_a_malformed_token_is_refused_before_github_is_asked(
    client_for, alice, github_project, github_sim, bad
):
    response = client_for(alice).post(url(github_project), {"token": bad})
    assert response.status_code == 200
    assert github_sim.exchanges == []
    assert not GitHubToken.objects.exists()
