"""The whole Heroku setup as a person does it, in Chromium: sign in, three steps, settings."""

import pytest
from playwright.sync_api import expect

from projects.access import issue_setup_token
from tests.conftest import PASSWORD, allow_project_creation, store_heroku_key

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
    expect(page.get_by_role("navigation", name="Project").get_by_text("Settings")).to_be_visible()
    shoot(page, "step1", text=["Step 1 of 3", "Heroku API key"], boxes=["h1", ".field", ".primary"])

    key_field = page.get_by_label("Heroku API key")
    key_field.fill("HRKU-00000000-0000-4000-8000-000000000000")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".field .error")).to_contain_text("Heroku rejected this API key")
    expect(key_field).to_have_value("")
    expect(key_field).to_have_attribute("aria-invalid", "true")
    shoot(
        page,
        "step1-rejected",
        text=["Heroku rejected this API key"],
        boxes=["h1", ".field .error", ".primary"],
    )

    key_field.fill(sim.api_key)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Step 2 of 3")).to_be_visible()
    expect(
        page.get_by_text("Saved the API key of Heroku account deployer@example.com")
    ).to_be_visible()
    shoot(
        page,
        "step2",
        text=["Step 2 of 3", "Saved the API key of Heroku account deployer@example.com"],
        boxes=["h1", ".message", ".primary"],
    )

    page.get_by_role("button", name="Set me as the Heroku deploy user").click()
    expect(page.locator(".facts")).to_contain_text("SHA256:")
    expect(page.locator(".public-key")).to_contain_text("herokucd-foo-bar")
    expect(page.locator(".facts")).to_contain_text("deployer@example.com")
    shoot(
        page,
        "step2-done",
        text=["deployer@example.com", "SHA256:"],
        boxes=["h1", ".facts", ".public-key", ".primary"],
    )
    page.get_by_text("Remove key…").click()
    expect(page.locator(".confirm-body")).to_contain_text("Your Heroku apps are not changed")
    shoot(
        page,
        "step2-remove-confirm",
        text=["Your Heroku apps are not changed"],
        boxes=[".confirm-body", ".primary"],
    )

    page.get_by_role("link", name="Next: app names").click()
    expect(page.get_by_text("Step 3 of 3")).to_be_visible()
    page.get_by_label("Environment").fill("staging")
    page.get_by_label("Branch").fill("main")
    page.get_by_label("App name").fill("Foo-Bar-123")
    page.get_by_role("button", name="Add environment").click()
    expect(page.locator(".field .error")).to_have_text(
        "The Heroku app name must not include upper-case characters."
    )
    expect(page.get_by_text("heroku apps:info -a <name>")).to_be_visible()
    shoot(
        page,
        "step3-error",
        text=["must not include upper-case characters", "heroku apps:info -a <name>"],
        boxes=["h1", ".field .error", ".primary"],
    )
    page.get_by_label("App name").fill("foo-bar-123")
    page.get_by_role("button", name="Add environment").click()
    expect(page.get_by_text("Setup is complete.")).to_be_visible()
    expect(page.get_by_role("cell", name="foo-bar-123")).to_be_visible()
    shoot(
        page,
        "step3-done",
        text=["Setup is complete.", "foo-bar-123"],
        boxes=["h1", "table", ".primary"],
    )

    page.goto("/projects/foo-bar/heroku/setup/1/")
    expect(page.get_by_text("••••••••" + sim.api_key[-4:])).to_be_visible()
    assert sim.api_key not in page.content()
    assert page.console_errors == []


def test_an_admin_changes_deploy_options_and_sees_the_audit_trail(
    browser_page, shoot, project, alice, sim
):
    store_heroku_key(project, sim.api_key, alice)  # saving options checks the app with it
    project.environments.create(name="staging", branch="main", app_name="foo-bar-123")
    page = browser_page
    sign_in(page, "alice")
    page.goto("/projects/foo-bar/settings/")
    shoot(
        page,
        "settings",
        text=["Environments", "Edit deploy options of staging", "foo-bar-123"],
        boxes=["h1", "table"],
    )
    page.get_by_role("link", name="Edit deploy options of staging").click()
    page.get_by_label("Migrations", exact=True).select_option("rails")
    page.get_by_label("Back up Postgres before migrating").check()
    shoot(
        page,
        "options",
        text=["Back up Postgres before migrating"],
        boxes=["h1", ".field", ".primary"],
    )
    page.get_by_role("button", name="Save deploy options").click()
    expect(page.get_by_text("Saved the deploy options of staging.")).to_be_visible()
    expect(page.locator("table.audit")).to_contain_text(
        "Migration command: (empty) → rake db:migrate"
    )
    page.get_by_role("link", name="Import circle.yml").click()
    page.get_by_label("circle.yml").fill(
        "deployment:\n  production:\n    branch: production\n"
        "    heroku:\n      appname: foo-bar-123\n"
    )
    page.get_by_role("button", name="Preview import").click()
    expect(page.get_by_text("heroku: appname: foo-bar-123 → deploys to that app.")).to_be_visible()
    shoot(
        page,
        "import-preview",
        text=["heroku: appname: foo-bar-123 → deploys to that app."],
        boxes=["h1", ".primary"],
    )
    page.get_by_role("button", name="Import environments").click()
    expect(page.get_by_text("Imported production from circle.yml.")).to_be_visible()
    assert page.console_errors == []


def test_deploy_option_errors_sit_under_their_fields_and_the_audit_says_what_changed(
    browser_page, shoot, project, alice, sim
):
    store_heroku_key(project, sim.api_key, alice)  # saving options checks the app with it
    environment = project.environments.create(name="staging", branch="main", app_name="foo-bar-123")
    page = browser_page
    sign_in(page, "alice")
    page.goto(f"/projects/foo-bar/settings/environments/{environment.pk}/")
    auto_deploy = page.get_by_label("Auto-deploy on green builds")
    box, label = (
        auto_deploy.bounding_box(),
        page.locator("label[for=id_auto_deploy]").bounding_box(),
    )
    assert label["x"] > box["x"] and abs(label["y"] - box["y"]) < box["height"]
    page.get_by_label("Maintenance mode", exact=True).select_option("deploy")
    page.get_by_label("Expected status").fill("999")
    page.get_by_label("Cache flush after deploy").select_option("redis")
    page.get_by_role("button", name="Save deploy options").click()
    expect(page.locator(".error-summary")).to_contain_text("Expected status")
    status = page.get_by_label("Expected status")
    expect(status).to_have_attribute("aria-invalid", "true")
    cache = page.locator(".field.has-error", has=page.get_by_label("Cache URL config vars"))
    expect(cache.locator(".error + .help")).to_have_count(1)
    shoot(
        page,
        "options-errors",
        text=["Expected status"],
        boxes=["h1", ".error-summary", ".field.has-error", ".primary"],
    )

    page.get_by_label("Expected status").fill("200")
    page.get_by_label("Cache flush after deploy").select_option("")
    page.get_by_role("button", name="Save deploy options").click()
    audit = page.locator("table.audit")
    expect(audit).to_contain_text("Maintenance mode: Off → Every deploy: from before the push")
    expect(audit).to_contain_text("just now")
    assert "maintenance_mode" not in audit.inner_text()
    shoot(
        page,
        "settings-audit",
        text=["Maintenance mode: Off → Every deploy: from before the push"],
        boxes=["h1", ".message", "table.audit"],
    )

    page.goto(f"/projects/foo-bar/settings/environments/{environment.pk}/delete/")
    expect(page.get_by_text("The app on Heroku is not changed.")).to_be_visible()
    shoot(
        page,
        "delete-confirm",
        text=["The app on Heroku is not changed."],
        boxes=["h1", "form button"],
    )


def test_sign_in_new_project_and_members_read_well_on_a_phone(
    browser_page, shoot, project, alice, bob, sim
):
    allow_project_creation(alice)
    page = browser_page
    page.goto("/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    shoot(
        page,
        "sign-in-error",
        text=["Username", "Password"],
        boxes=["h1", ".error-summary, .errorlist, .error", ".primary"],
    )
    sign_in(page, "alice")
    page.goto("/projects/new/")
    page.get_by_role("button", name="Create project").click()
    expect(page.locator(".error-summary")).to_be_visible()
    shoot(
        page,
        "new-project-errors",
        text=["Repository"],
        boxes=["h1", ".error-summary", ".primary"],
    )
    page.goto("/projects/foo-bar/members/")
    page.get_by_label("Username").fill("bob")
    page.get_by_role("button", name="Add member").click()
    page.get_by_text("Remove bob…").click()
    expect(page.get_by_role("group", name="Confirm removing bob")).to_contain_text(
        "Nothing changes on Heroku"
    )
    shoot(
        page,
        "members-remove-confirm",
        text=["Nothing changes on Heroku"],
        boxes=["h1", "[aria-label='Confirm removing bob']", ".primary"],
    )
    page.get_by_role("button", name="Remove bob", exact=True).click()
    expect(page.get_by_text("bob no longer has access to Foo Bar.")).to_be_visible()


def test_the_first_administrator_page_shows_errors_by_the_fields(browser_page, shoot):
    page = browser_page
    token = issue_setup_token()  # what `make run` prints
    page.goto("/setup/first-admin/")
    page.get_by_role("button", name="Create administrator").click()
    expect(page.locator(".error-summary")).to_be_visible()
    expect(page.locator("#id_setup_token_error_0")).to_have_text(
        "Paste the setup token printed in the console or log."
    )
    shoot(
        page,
        "first-admin-errors",
        text=["Paste the setup token printed in the console or log."],
        boxes=["h1", ".error-summary", ".primary"],
    )
    page.get_by_label("Setup token").fill(token)
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Create administrator").click()
    expect(page.get_by_text("Welcome, root. Create your first project.")).to_be_visible()
