"""The whole Heroku setup as a person does it, in Chromium: sign in, three steps, settings."""

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sim(heroku_sim, settings):
    settings.HEROKU_API_URL = heroku_sim.api_url
    settings.HEROKU_DATA_API_URL = heroku_sim.api_url
    settings.HEROKU_GIT_URL = heroku_sim.git_url
    return heroku_sim


def sign_in(page, username):
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign in")).to_have_count(0)


def test_an_admin_sets_up_heroku_in_three_steps(browser_page, shoot, project, alice, sim):
    page = browser_page
    sign_in(page, "alice")
    page.goto("/projects/foo-bar/heroku/setup/")
    expect(page.get_by_text("Step 1 of 3")).to_be_visible()
    shoot(page, "step1")

    key_field = page.get_by_label("Heroku API key")
    key_field.fill("HRKU-00000000-0000-4000-8000-000000000000")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".field .error")).to_contain_text("Heroku rejected this API key")
    expect(key_field).to_have_value("")
    shoot(page, "step1-rejected")

    key_field.fill(sim.api_key)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Step 2 of 3")).to_be_visible()
    expect(
        page.get_by_text("Saved the API key of Heroku account deployer@example.com")
    ).to_be_visible()
    shoot(page, "step2")

    page.get_by_role("button", name="Set me as the Heroku deploy user").click()
    expect(page.locator(".facts")).to_contain_text("SHA256:")
    expect(page.locator(".public-key")).to_contain_text("herokucd-foo-bar")
    expect(page.locator(".facts")).to_contain_text("deployer@example.com")
    shoot(page, "step2-done")

    page.get_by_role("link", name="Next: app names").click()
    expect(page.get_by_text("Step 3 of 3")).to_be_visible()
    page.get_by_label("Environment").fill("staging")
    page.get_by_label("Branch").fill("main")
    page.get_by_label("App name").fill("Foo-Bar-123")
    page.get_by_role("button", name="Add environment").click()
    expect(page.locator(".field .error")).to_have_text(
        "The Heroku app name must not include upper-case characters."
    )
    shoot(page, "step3-error")
    page.get_by_label("App name").fill("foo-bar-123")
    page.get_by_role("button", name="Add environment").click()
    expect(page.get_by_text("Setup is complete.")).to_be_visible()
    expect(page.get_by_role("cell", name="foo-bar-123")).to_be_visible()
    shoot(page, "step3-done")

    page.goto("/projects/foo-bar/heroku/setup/1/")
    expect(page.get_by_text("••••••••" + sim.api_key[-4:])).to_be_visible()
    assert sim.api_key not in page.content()
    assert page.console_errors == []


def test_an_admin_changes_deploy_options_and_sees_the_audit_trail(
    browser_page, shoot, project, alice, sim
):
    project.environments.create(name="staging", branch="main", app_name="foo-bar-123")
    page = browser_page
    sign_in(page, "alice")
    page.goto("/projects/foo-bar/settings/")
    shoot(page, "settings")
    page.get_by_role("link", name="Edit deploy options of staging").click()
    page.get_by_label("Migrations", exact=True).select_option("rails")
    page.get_by_label("Back up Postgres before migrating").check()
    shoot(page, "options")
    page.get_by_role("button", name="Save deploy options").click()
    expect(page.get_by_text("Saved the deploy options of staging.")).to_be_visible()
    expect(page.locator("table.audit")).to_contain_text("migration_command '' → 'rake db:migrate'")
    page.get_by_role("link", name="Import circle.yml").click()
    page.get_by_label("circle.yml").fill(
        "deployment:\n  production:\n    branch: production\n"
        "    heroku:\n      appname: foo-bar-123\n"
    )
    page.get_by_role("button", name="Preview import").click()
    expect(page.get_by_text("heroku: appname: foo-bar-123 → deploys to that app.")).to_be_visible()
    shoot(page, "import-preview")
    page.get_by_role("button", name="Import environments").click()
    expect(page.get_by_text("Imported production from circle.yml.")).to_be_visible()
    assert page.console_errors == []
