"""Deploy with: git push | Build API, chosen per environment in setup step 3 and its options."""

import pytest

from deploys import manual
from projects.models import DeployMethod, Environment
from tests.projects.test_settings import form_data, options_url
from tests.projects.test_wizard_fixtures import *  # noqa: F403
from tests.projects.test_wizard_fixtures import SETUP, page

pytestmark = pytest.mark.django_db


@pytest.fixture
def staging(project, with_key):
    return Environment.objects.create(
        project=project, name="staging", branch="main", app_name="foo-bar-123"
    )


def test_step_3_offers_the_choice_with_git_push_first(admin, with_key):
    body = page(admin.get(SETUP + "3/"))
    assert ">Deploy with</label>" in body
    assert body.index('value="git" selected') < body.index('value="build_api"')


def test_step_3_makes_a_build_api_environment(admin, with_key, project):
    data = {"name": "staging", "branch": "main", "app_name": "foo-bar-123"}
    admin.post(SETUP + "3/", {**data, "deploy_method": "build_api"})
    assert Environment.objects.get(project=project).deploy_method == DeployMethod.BUILD_API


def test_the_options_save_the_method_and_the_audit_trail_says_so(admin, staging):
    response = admin.post(options_url(staging), form_data(staging, deploy_method="build_api"))
    assert response.status_code == 302
    staging.refresh_from_db()
    assert staging.deploy_method == DeployMethod.BUILD_API
    assert "Deploy with: git push → Build API" in page(admin.get("/projects/foo-bar/settings/"))


def test_a_form_sent_without_the_method_keeps_it(admin, staging):
    staging.deploy_method = DeployMethod.BUILD_API
    staging.save()
    admin.post(options_url(staging), form_data(staging))
    staging.refresh_from_db()
    assert staging.deploy_method == DeployMethod.BUILD_API


def test_an_unknown_method_is_refused(admin, staging):
    body = page(admin.post(options_url(staging), form_data(staging, deploy_method="ftp")))
    assert "Select a valid choice. ftp is not one of the available choices." in body


def test_the_project_page_says_build_api_deploys_use_no_git_budget(admin, staging, project):
    staging.deploy_method = DeployMethod.BUILD_API
    staging.save()
    body = page(admin.get(project.get_absolute_url()))
    assert "Not used: this environment deploys with the Build API" in body
    assert "git requests left this hour" not in body


def test_the_confirmation_says_the_build_api_uploads_the_commit(staging):
    staging.deploy_method = DeployMethod.BUILD_API
    assert "Upload the commit's files with Heroku's Build API" in " ".join(manual.steps(staging))
