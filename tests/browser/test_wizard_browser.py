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


# The innermost elements that stick out of the viewport, to name the culprit of a sideways scroll.
WIDER_THAN_VIEWPORT = """() => [...document.querySelectorAll("body *")]
  .filter(e => e.getBoundingClientRect().right > innerWidth + 1)
  .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > innerWidth + 1))
  .slice(0, 5).map(e => e.tagName + "." + e.className + " " + e.textContent.slice(0, 40))"""


def look(page, shoot, name):
    """Screenshots at 1280 and 390 px; the page must not scroll sideways on a phone."""
    shoot(page, name)
    page.set_viewport_size({"width": 390, "height": 900})
    width = page.evaluate("document.documentElement.scrollWidth")
    culprits = page.evaluate(WIDER_THAN_VIEWPORT) if width > 390 else []
    page.set_viewport_size({"width": 1280, "height": 900})
    assert width <= 390, f"{name} scrolls sideways at 390 px ({width} px wide): {culprits}"


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
    look(page, shoot, "step1")

    key_field = page.get_by_label("Heroku API key")
    key_field.fill("HRKU-00000000-0000-4000-8000-000000000000")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".field .error")).to_contain_text("Heroku rejected this API key")
    expect(key_field).to_have_value("")
    expect(key_field).to_have_attribute("aria-invalid", "true")
    look(page, shoot, "step1-rejected")

    key_field.fill(sim.api_key)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Step 2 of 3")).to_be_visible()
    expect(
        page.get_by_text("Saved the API key of Heroku account deployer@example.com")
    ).to_be_visible()
    look(page, shoot, "step2")

    page.get_by_role("button", name="Set me as the Heroku deploy user").click()
    expect(page.locator(".facts")).to_contain_text("SHA256:")
    expect(page.locator(".public-key")).to_contain_text("herokucd-foo-bar")
    expect(page.locator(".facts")).to_contain_text("deployer@example.com")
    look(page, shoot, "step2-done")
    page.get_by_text("Remove key…").click()
    expect(page.locator(".confirm-body")).to_contain_text("Your Heroku apps are not changed")
    look(page, shoot, "step2-remove-confirm")

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
    look(page, shoot, "step3-error")
    page.get_by_label("App name").fill("foo-bar-123")
    page.get_by_role("button", name="Add environment").click()
    expect(page.get_by_text("Setup is complete.")).to_be_visible()
    expect(page.get_by_role("cell", name="foo-bar-123")).to_be_visible()
    look(page, shoot, "step3-done")

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
    look(page, shoot, "settings")
    page.get_by_role("link", name="Edit deploy options of staging").click()
    page.get_by_label("Migrations", exact=True).select_option("rails")
    page.get_by_label("Back up Postgres before migrating").check()
    look(page, shoot, "options")
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
    look(page, shoot, "import-preview")
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
    look(page, shoot, "options-errors")

    page.get_by_label("Expected status").fill("200")
    page.get_by_label("Cache flush after deploy").select_option("")
    page.get_by_role("button", name="Save deploy options").click()
    audit = page.locator("table.audit")
    expect(audit).to_contain_text("Maintenance mode: Off → Every deploy: from before the push")
    expect(audit).to_contain_text("just now")
    assert "maintenance_mode" not in audit.inner_text()
    look(page, shoot, "settings-audit")

    page.goto(f"/projects/foo-bar/settings/environments/{environment.pk}/delete/")
    expect(page.get_by_text("The app on Heroku is not changed.")).to_be_visible()
    look(page, shoot, "delete-confirm")


def test_sign_in_new_project_and_members_read_well_on_a_phone(
    browser_page, shoot, project, alice, bob, sim
):
    allow_project_creation(alice)
    page = browser_page
    page.goto("/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    look(page, shoot, "sign-in-error")
    sign_in(page, "alice")
    page.goto("/projects/new/")
    page.get_by_role("button", name="Create project").click()
    expect(page.locator(".error-summary")).to_be_visible()
    look(page, shoot, "new-project-errors")
    page.goto("/projects/foo-bar/members/")
    page.get_by_label("Username").fill("bob")
    page.get_by_role("button", name="Add member").click()
    page.get_by_text("Remove bob…").click()
    expect(page.get_by_role("group", name="Confirm removing bob")).to_contain_text(
        "Nothing changes on Heroku"
    )
    look(page, shoot, "members-remove-confirm")
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
    look(page, shoot, "first-admin-errors")
    page.get_by_label("Setup token").fill(token)
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Create administrator").click()
    expect(page.get_by_text("Welcome, root. Create your first project.")).to_be_visible()
