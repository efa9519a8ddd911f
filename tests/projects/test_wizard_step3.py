"""Step 3: environment, branch and app name, checked with GET /apps/<name>."""

import pytest

from projects.models import AuditEvent, DeployKey, Environment
from projects.setup import missing_steps
from tests.projects.test_wizard_fixtures import *  # noqa: F403
from tests.projects.test_wizard_fixtures import SETUP, page

pytestmark = pytest.mark.django_db
STEP3 = SETUP + "3/"


def add(client, name="staging", branch="main", app="foo-bar-123", **extra):
    return client.post(STEP3, {"name": name, "branch": branch, "app_name": app}, **extra)


def test_it_shows_the_three_labelled_fields(admin, with_key):
    body = page(admin.get(STEP3))
    assert "Step 3 of 3" in body
    for label in ("Environment", "Branch", "App name"):
        assert f">{label}</label>" in body
    assert "Add environment" in body


def test_it_adds_an_environment_for_an_app_the_key_can_see(admin, with_key, project):
    response = add(admin, follow=True)
    environment = Environment.objects.get(project=project)
    assert (environment.name, environment.branch, environment.app_name) == (
        "staging",
        "main",
        "foo-bar-123",
    )
    assert "Added staging: branch main deploys to foo-bar-123" in page(response)
    assert AuditEvent.objects.filter(action="environment.added").exists()


def test_it_keeps_the_web_url_heroku_reports_for_the_app(admin, with_key, project, heroku_sim):
    add(admin)
    reported = heroku_sim.api("GET", "/apps/foo-bar-123").json()["web_url"]
    assert Environment.objects.get(project=project).web_url == reported


def test_add_environment_adds_more_in_order(admin, with_key, project):
    add(admin)
    add(admin, name="production", branch="production")
    assert [e.name for e in project.environments.all()] == ["staging", "production"]
    assert [e.position for e in project.environments.all()] == [0, 1]


def test_it_rejects_uppercase_appname(admin, with_key):
    response = add(admin, app="Foo-Bar-123")
    assert "The Heroku app name must not include upper-case characters." in page(response)
    assert not Environment.objects.exists()


@pytest.mark.parametrize("app", ["1abc", "ab", "foo_bar", "foo-", "a" * 31])
def test_it_rejects_names_heroku_would_refuse_in_herokus_words(admin, with_key, app):
    body = page(add(admin, app=app))
    assert (
        "Name must start with a letter, end with a letter or digit and can only contain "
        "lowercase letters, numbers, and dashes."
        in body
        or "Name is too long (maximum is 30 characters)." in body
    )
    assert not Environment.objects.exists()


def test_an_app_heroku_does_not_know_is_named(admin, with_key):
    body = page(add(admin, app="no-such-app"))
    assert (
        "herokucd&#x27;s key for this project cannot reach app no-such-app: there is no app of "
        "that name, or it is not shared with deployer@example.com." in body
    )
    assert not Environment.objects.exists()


def test_an_app_of_another_account_is_refused(admin, with_key):
    body = page(add(admin, app="not-yours-app"))
    assert (
        "herokucd&#x27;s key for this project cannot reach app not-yours-app: ask its owner to "
        "add deployer@example.com as a collaborator." in body
    )
    assert not Environment.objects.exists()


def test_heroku_being_down_saves_nothing(admin, with_key, sim):
    sim.fault("GET /apps/{app}", status=503)
    body = page(add(admin))
    assert "Could not check app foo-bar-123 with Heroku, nothing was saved" in body
    assert not Environment.objects.exists()


@pytest.mark.parametrize(
    ("branch", "stored"),
    [("/feature_.*/", "/feature_.*/"), ("main, develop ,release", "main, develop, release")],
)
def test_branch_takes_a_regex_or_several_names(admin, with_key, project, branch, stored):
    add(admin, branch=branch)
    assert Environment.objects.get().branch == stored


@pytest.mark.parametrize(
    ("branch", "message"),
    [("/feature_(/", "This /regex/ does not compile"), ("my branch", "not a valid git branch")],
)
def test_it_rejects_bad_branches_saying_why(admin, with_key, branch, message):
    assert message in page(add(admin, branch=branch))


def test_it_reports_overlapping_branches_and_which_environment_wins(admin, with_key):
    add(admin, name="staging", branch="/.*/")
    response = add(admin, name="production", branch="main", follow=True)
    assert (
        "Branch “main” matches both staging and production; staging wins because it comes first."
        in page(response)
    )


def test_a_duplicate_environment_name_is_refused(admin, with_key):
    add(admin)
    assert "This project already has an environment “Staging”." in page(add(admin, name="Staging"))


def test_a_half_finished_setup_resumes_where_it_stopped(admin, with_key, project, alice):
    assert admin.get(SETUP).url == SETUP + "2/"
    DeployKey.objects.create(project=project, deploy_user=alice)
    assert admin.get(SETUP).url == STEP3
    add(admin)
    response = admin.get(SETUP)
    assert response.status_code == 200 and "Step 1 of 3" in page(response)


def test_missing_steps_lists_what_is_left_with_links(project, with_key, alice):
    assert [m["step"] for m in missing_steps(project)] == [2, 3]
    assert missing_steps(project)[0] == {
        "step": 2,
        "label": "Set the Heroku deploy user",
        "url": SETUP + "2/",
    }
    DeployKey.objects.create(project=project, deploy_user=alice)
    Environment.objects.create(project=project, name="s", branch="main", app_name="foo-bar-123")
    assert missing_steps(project) == []


def test_complete_setup_says_so(admin, with_key, project, alice):
    DeployKey.objects.create(project=project, deploy_user=alice)
    add(admin)
    assert "Setup is complete." in page(admin.get(STEP3))


def test_there_is_no_step_4(admin, with_key):
    assert admin.get(SETUP + "4/").status_code == 404
