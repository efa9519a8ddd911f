"""The whole flow of `make demo` in Chromium, as a newcomer does it: sign in, create a project on
the sample repository, the three wizard steps with the printed key, deploy options with
maintenance, scaling and the migration, Deploy, and a deploy page that fills in live until it
succeeds. The simulator, the sample repository and the demo admin come from `manage.py demo`'s
own `start_demo`; a real rqworker subprocess runs the deploy."""

import re
import subprocess

import pytest
import requests
from playwright.sync_api import expect

from deploys.management.commands.demo import APPS, DEMO_USER, MIGRATION, start_demo
from tests import processes
from tests.browser.conftest import DEPLOY_PAGE

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

APP = APPS[0]  # demo-staging
DYNO_NAME = re.compile(r"(run|release)\.\d+")
FORM = ["h1", ".field", ".primary"]  # what a form page lays out at every width


@pytest.fixture
def demo(tmp_path, transactional_db, settings):
    """`make demo`'s simulator, sample repository and admin; herokucd pointed at them."""
    demo = start_demo(tmp_path / "demo")
    for name, value in demo.endpoints.items():
        setattr(settings, name, value)
    yield demo
    demo.stop()


@pytest.fixture
def worker(demo, settings):
    if settings.EMBEDDED_REDIS:  # it stops after a while without clients: start it for the page
        from herokucd.embedded_redis import ensure_running

        ensure_running(settings.DATA_DIR)
    process = processes.start(
        ["manage.py", "rqworker", "default", "--with-scheduler"], **demo.endpoints
    )
    yield process
    processes.stop(process)


def test_a_newcomer_goes_from_the_wizard_to_a_finished_deploy(browser_page, shoot, demo, worker):
    page = browser_page
    sign_in(page, demo.password, shoot)
    create_project(page, str(demo.repository), shoot)
    save_the_demo_key(page, demo.api_key, shoot)
    become_the_deploy_user(page, shoot)
    add_staging(page, shoot)
    set_deploy_options(page, shoot)
    start_deploy(page, shoot)
    watch_it_run(page, shoot)
    watch_it_succeed(page, shoot, demo)
    assert page.console_errors == []
    assert_heroku_app_is_back_to_normal(demo, head_of(demo.repository))


def sign_in(page, password, shoot=None):
    """Sign in as the demo admin; with `shoot`, look at the sign-in page and the empty home."""
    page.goto("/login/")
    if shoot:
        shoot(page, "sign-in", text=["Sign in to herokucd", "Username"], boxes=FORM)
    page.get_by_label("Username").fill(DEMO_USER)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="New project").first).to_be_visible()
    if shoot:
        shoot(page, "home-empty", text=["No projects yet"], boxes=["h1", ".empty.card", ".primary"])


def create_project(page, repository, shoot):
    page.get_by_role("link", name="New project").first.click()
    page.get_by_label("Name", exact=True).fill("Demo shop")
    page.get_by_label("Repository", exact=True).fill(repository)
    shoot(page, "new-project", text=["New project", "Repository"], boxes=FORM)
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_text("Project Demo shop created.")).to_be_visible()
    expect(page.get_by_role("heading", name="Finish the setup to deploy")).to_be_visible()
    shoot(
        page,
        "project-setup-missing",
        text=["Project Demo shop created.", "Finish the setup to deploy"],
        boxes=["h1", ".message", ".setup-missing"],
    )
    page.get_by_role("link", name="Step 1").click()


def save_the_demo_key(page, api_key, shoot):
    expect(page.get_by_text("Step 1 of 3")).to_be_visible()
    page.get_by_label("Heroku API key").fill(api_key)
    shoot(page, "wizard-step1", text=["Step 1 of 3", "Heroku API key"], boxes=FORM)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Step 2 of 3")).to_be_visible()
    expect(page.get_by_text("demo@example.com").first).to_be_visible()
    assert api_key not in page.content()


def become_the_deploy_user(page, shoot):
    shoot(page, "wizard-step2", text=["Step 2 of 3", "demo@example.com"], boxes=["h1", ".primary"])
    page.get_by_role("button", name="Set me as the Heroku deploy user").click()
    expect(page.locator(".facts")).to_contain_text("SHA256:")
    expect(page.locator(".public-key")).to_contain_text("herokucd-demo-shop")
    shoot(
        page,
        "wizard-step2-done",
        text=["SHA256:", "herokucd-demo-shop"],
        boxes=["h1", ".facts", ".public-key", ".primary"],
    )
    page.get_by_role("link", name="Next: app names").click()


def add_staging(page, shoot):
    expect(page.get_by_text("Step 3 of 3")).to_be_visible()
    page.get_by_label("Environment").fill("staging")
    page.get_by_label("Branch").fill("main")
    page.get_by_label("App name").fill(APP.upper())
    page.get_by_role("button", name="Add environment").click()
    expect(page.locator(".field .error")).to_have_text(
        "The Heroku app name must not include upper-case characters."
    )
    shoot(
        page,
        "wizard-step3-uppercase",
        text=["must not include upper-case characters"],
        boxes=["h1", ".field .error", ".primary"],
    )
    page.get_by_label("App name").fill(APP)
    page.get_by_role("button", name="Add environment").click()
    expect(page.get_by_text("Setup is complete.")).to_be_visible()
    expect(page.get_by_role("cell", name=APP)).to_be_visible()
    shoot(page, "wizard-step3-done", text=["Setup is complete.", APP], boxes=["h1", "table"])


def set_deploy_options(page, shoot):
    page.get_by_role("link", name="Settings", exact=True).click()
    shoot(page, "settings", text=["Edit deploy options of staging", APP], boxes=["h1", "table"])
    page.get_by_role("link", name="Edit deploy options of staging").click()
    page.get_by_label("Maintenance mode", exact=True).select_option(value="deploy")
    page.get_by_label("Process types to scale to 0 during migrations").fill("worker")
    page.get_by_label("Migrations", exact=True).select_option("custom")
    page.get_by_label("Custom migration command").fill(MIGRATION)
    shoot(page, "deploy-options", text=["Custom migration command"], boxes=FORM)
    page.get_by_role("button", name="Save deploy options").click()
    expect(page.get_by_text("Saved the deploy options of staging.")).to_be_visible()
    shoot(
        page,
        "settings-saved",
        text=["Saved the deploy options of staging."],
        boxes=["h1", ".message", "table.audit"],
    )


def start_deploy(page, shoot):
    # The settings page has no project tabs: the project switcher leads back.
    page.locator("summary", has_text="Demo shop").click()
    page.get_by_role("link", name="Demo shop", exact=True).click()
    shoot(page, "project-ready", text=["staging", APP], boxes=["h1", ".primary", ".env-card"])
    page.get_by_role("link", name="Deploy", exact=True).click()
    page.get_by_label("Environment").select_option(label=f"staging ({APP})")
    page.get_by_label("Branch or commit").fill("main")
    shoot(page, "deploy-new", text=["Deploy Demo shop", "Branch or commit"], boxes=FORM)
    page.get_by_role("button", name="Start deploy").click()
    expect(page.get_by_role("heading", name="Deploy #1 to staging")).to_be_visible()


def watch_it_run(page, shoot):
    """The migration prints a line a second: seeing one while the deploy runs proves the log is
    live, and the steps before it must have finished by then."""
    log = page.locator("#log")
    expect(log).to_contain_text("Applying shop.0001_demo", timeout=60000)
    expect(page.locator("#deploy-state")).to_have_text("Running")
    expect(step_badge(page, f"Migration: {MIGRATION}")).to_have_text("Running")
    for title in ("Maintenance mode on", "Scale worker to 0", "Push to Heroku (main)"):
        expect(step_badge(page, title)).to_have_text("Succeeded")
    expect(log).to_contain_text("Applying shop.0002_demo... OK")  # arrives a second later
    shoot(
        page,
        "deploy-running",
        text=[f"Migration: {MIGRATION}", "Running"],
        boxes=[*DEPLOY_PAGE, "#deploy-actions button"],
    )


def watch_it_succeed(page, shoot, demo):
    expect(page.locator("#deploy-state")).to_have_text("Succeeded", timeout=60000)
    release = heroku_app(demo)["releases"][-1]["version"]
    heads = page.locator(".log-step-head .badge")
    expect(heads).to_have_text(["Succeeded"] * heads.count())
    expect(page.locator("#deploy-release")).to_have_text(f"v{release}")
    page.locator(".log-step-head", has_text="Migration").click()  # finished steps are folded
    expect(page.locator("#log")).to_contain_text("Applying shop.0003_demo... OK")
    shoot(
        page,
        "deploy-succeeded-live",
        text=["Applying shop.0003_demo... OK", f"v{release}"],
        boxes=DEPLOY_PAGE,
    )
    page.reload()
    steps = page.locator("#step-list .badge")
    expect(steps.first).to_be_visible()
    expect(steps).to_have_text(["Succeeded"] * steps.count())
    progress = page.locator("#steps-progress")
    expect(progress).to_have_attribute("value", progress.get_attribute("max"))
    expect(page.get_by_role("button", name="Cancel deploy")).to_have_count(0)
    shoot(page, "deploy-succeeded", text=["Succeeded", f"v{release}"], boxes=DEPLOY_PAGE)


def step_badge(page, title):
    return page.locator(".log-step-head", has_text=title).locator(".badge")


def heroku_app(demo, state=None):
    state = state or requests.get(f"{demo.api_url}/__sim__/state", timeout=10).json()
    return next(a for a in state["apps"] if a["name"] == APP)


def assert_heroku_app_is_back_to_normal(demo, sha):
    state = requests.get(f"{demo.api_url}/__sim__/state", timeout=10).json()
    app = heroku_app(demo, state)
    assert app["maintenance"] is False
    assert {t: f["quantity"] for t, f in app["formation"].items()} == {"web": 1, "worker": 1}
    assert [push["sha"] for push in app["pushes"]] == [sha]
    release = app["pushes"][0]["release"]
    # herokucd wraps the command to learn its exit status, as the Heroku CLI does.
    runs = [(d["command"].split(";")[0], d["exit_status"]) for d in app["dynos"] if d["attach"]]
    assert runs == [(MIGRATION, 0)]
    assert changes_to_the_app(state["events"]) == [
        "PATCH /apps/demo-staging maintenance on",
        "PATCH /apps/demo-staging/formation scale worker=0:Basic",
        f"PUSH /demo-staging.git push {sha[:7]} to refs/heads/main: released",
        # Heroku's release phase: the Procfile's release command, in a dyno of its own.
        "RUN /apps/demo-staging/dynos/*",
        f"RELEASE /apps/demo-staging/releases release phase of v{release}: succeeded",
        "POST /apps/demo-staging/dynos",
        "RUN /apps/demo-staging/dynos/*",
        "PATCH /apps/demo-staging/formation scale worker=1:Basic",
        "PATCH /apps/demo-staging maintenance off",
    ]


def changes_to_the_app(events):
    """What the deploy did to the app, in order (dyno names are random, so only the route)."""
    return [change(event) for event in events if event["app"] == APP]


def change(event):
    if "/dynos" in event["path"]:
        return f"{event['method']} {DYNO_NAME.sub('*', event['path'])}"
    return f"{event['method']} {event['path']} {event['summary']}"


def head_of(repository):
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repository, check=True, capture_output=True, text=True
    ).stdout.strip()
