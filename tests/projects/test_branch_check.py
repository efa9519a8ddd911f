"""An environment's branch is checked against the repository when it is saved (wizard step 3,
deploy options, circle.yml import): a missing branch is a warning naming the branches the
repository has, an unreadable repository a warning too, and the environment is saved anyway."""

import html

import pytest

from projects.models import Environment, Project
from tests.projects.test_settings import form_data, options_url, staging  # noqa: F401
from tests.projects.test_wizard_fixtures import *  # noqa: F403
from tests.projects.test_wizard_fixtures import SETTINGS, SETUP, messages_of, page

pytestmark = pytest.mark.django_db

MISSING = (
    "Branch master is not in the repository (it has develop, main): deploys from webhooks "
    "will never match it."
)
UNREADABLE = (
    "Could not read the repository to check the branch: git could not read this repository."
)


@pytest.fixture
def develop(git_repo):
    git_repo.git("branch", "develop")


@pytest.fixture
def unreadable(project, tmp_path):
    Project.objects.filter(pk=project.pk).update(repository_url=str(tmp_path / "gone"))


def add(client, branch, name="staging"):
    data = {"name": name, "branch": branch, "app_name": "foo-bar-123"}
    return client.post(f"{SETUP}3/", data, follow=True)


def warnings_in(response) -> str:
    return " ".join(messages_of(response))


def test_the_wizard_adds_an_existing_branch_without_warning(admin, with_key, develop):
    response = add(admin, "develop")
    assert Environment.objects.get().branch == "develop"
    assert "not in the repository" not in warnings_in(response)
    assert "Could not read" not in warnings_in(response)


def test_the_wizard_warns_of_a_missing_branch_naming_those_there_and_saves(
    admin, with_key, develop
):
    response = add(admin, "master")
    assert Environment.objects.get().branch == "master"
    assert MISSING in warnings_in(response)


def test_the_wizard_warns_of_a_pattern_that_matches_no_branch(admin, with_key):
    response = add(admin, "/release-.*/")
    assert "Pattern /release-.*/ matches no branch of the repository (it has main)" in (
        warnings_in(response)
    )
    matching = add(admin, "/ma.n/", name="other")
    assert Environment.objects.filter(branch="/ma.n/").exists()
    assert "Pattern" not in warnings_in(matching)


def test_the_wizard_saves_and_says_so_when_the_repository_cannot_be_read(
    admin, with_key, unreadable
):
    response = add(admin, "main")
    assert Environment.objects.get().branch == "main"
    assert UNREADABLE in warnings_in(response)
    assert "gone" not in warnings_in(response)  # git's own words stay out of the page


def test_the_options_form_warns_of_a_missing_branch_and_saves(admin, staging, develop):  # noqa: F811
    response = admin.post(options_url(staging), form_data(staging, branch="master"), follow=True)
    staging.refresh_from_db()
    assert staging.branch == "master"
    assert MISSING in warnings_in(response)


def test_the_options_form_accepts_an_existing_branch_quietly(admin, staging, develop):  # noqa: F811
    response = admin.post(options_url(staging), form_data(staging, branch="develop"), follow=True)
    assert "Saved the deploy options of staging." in warnings_in(response)
    assert "repository" not in warnings_in(response)


def test_the_options_form_saves_when_the_repository_cannot_be_read(admin, staging, unreadable):  # noqa: F811
    response = admin.post(options_url(staging), form_data(staging, branch="develop"), follow=True)
    staging.refresh_from_db()
    assert staging.branch == "develop"
    assert UNREADABLE in warnings_in(response)


CIRCLE = """deployment:
  staging:
    branch: {branch}
    heroku:
      appname: foo-bar-123
"""


def preview(client, branch):
    response = client.post(f"{SETTINGS}import/", {"circle_yml": CIRCLE.format(branch=branch)})
    return html.unescape(page(response))


def test_the_import_preview_warns_of_a_missing_branch_and_still_imports(admin, with_key, develop):
    body = preview(admin, "master")
    assert f"Warning: {MISSING}" in body
    assert "Import environments" in body  # a warning, not a problem
    text = CIRCLE.format(branch="master")
    done = admin.post(f"{SETTINGS}import/", {"circle_yml": text, "confirm": "1"}, follow=True)
    assert Environment.objects.get().branch == "master"
    assert f"staging: {MISSING}" in warnings_in(done)


def test_the_import_preview_of_an_existing_branch_has_no_warning(admin, with_key, develop):
    assert "Warning:" not in preview(admin, "develop")


def test_the_import_preview_says_when_the_repository_cannot_be_read(admin, with_key, unreadable):
    body = preview(admin, "main")
    assert f"Warning: {UNREADABLE}" in body
    assert "Import environments" in body
