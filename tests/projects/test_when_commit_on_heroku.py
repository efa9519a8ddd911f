"""The deploy option "When Heroku already has the commit" on the environment's options page."""

import pytest

from projects.models import Environment
from tests.projects.test_settings import form_data, options_url, staging  # noqa: F401
from tests.projects.test_wizard_fixtures import *  # noqa: F403
from tests.projects.test_wizard_fixtures import page

pytestmark = pytest.mark.django_db


def test_the_options_page_offers_the_choice_with_its_help(admin, with_key, staging):  # noqa: F811
    body = page(admin.get(options_url(staging)))
    assert "When Heroku already has the commit" in body
    assert '<option value="fail" selected>Fail the deploy</option>' in body
    assert '<option value="release">Release it again</option>' in body
    assert "release that commit&#x27;s earlier build again" in body


def test_release_it_again_is_saved_and_audited(admin, with_key, staging):  # noqa: F811
    data = form_data(staging, when_commit_on_heroku="release")
    response = admin.post(options_url(staging), data, follow=True)
    assert "Saved the deploy options of staging." in page(response)
    assert Environment.objects.get(pk=staging.pk).when_commit_on_heroku == "release"
    settings_page = page(admin.get("/projects/foo-bar/settings/"))
    assert "When Heroku already has the commit: Fail the deploy → Release it again" in (
        settings_page
    )
