"""What is live and "roll back to last good", in Chromium against `make demo`'s simulator with a
real rqworker: two deploys, the cards saying which one is live; then a rollback chosen on the
confirmation page, the cards and the deploy pages saying what it put live."""

import time

import pytest
from playwright.sync_api import expect

from deploys.management.commands.demo import APPS, DEMO_EMAIL, DEMO_USER
from deploys.models import Deploy
from projects.models import Environment, Membership, Project, Role
from tests.browser.test_demo_flow import demo, heroku_app, sign_in, worker  # noqa: F401 (fixtures)
from tests.conftest import store_heroku_key
from tests.gitrepo import GitRepo

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

APP = APPS[0]  # demo-staging


@pytest.fixture
def shop(demo):  # noqa: F811 (the demo fixture)
    """The demo project set up as the wizard leaves it, deploying main to demo-staging."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username=DEMO_USER)
    project = Project.objects.create(
        name="Demo shop", slug="demo-shop", repository_url=str(demo.repository), created_by=user
    )
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    store_heroku_key(project, demo.api_key, user, email=DEMO_EMAIL)
    Environment.objects.create(project=project, name="staging", branch="main", app_name=APP)
    return project


def test_the_cards_say_what_is_live_and_roll_back_to_last_good_puts_it_back(
    browser_page,
    shoot,
    demo,  # noqa: F811
    worker,  # noqa: F811
    shop,
):
    page = browser_page
    repository = GitRepo(demo.repository)
    sign_in(page, demo.password)
    good = deploy(page, shop, 1)
    repository.commit("CHANGES.md", "A change\n", "A change")
    bad = deploy(page, shop, 2)
    assert good.sha != bad.sha

    project_page = f"/projects/{shop.slug}/"
    live = page.locator(".env-card .live-release")
    until_shown(page, project_page, live, f"v{bad.release_version} · {bad.sha[:7]} · deploy #2")
    expect(live).to_contain_text("by demo")
    expect(page.locator(".env-card")).to_contain_text("Last succeeded deploy")
    shoot(
        page,
        "project-live-after-deploy",
        text=["Last succeeded deploy", "deploy #2"],
        boxes=["h1", ".env-card .env-head", ".env-card .live-release", ".recent"],
    )

    page.goto(f"/projects/{shop.slug}/deploys/2/")
    page.get_by_role("link", name="Roll back…").click()
    route = page.locator("#rollback-route")
    expect(route).to_contain_text(
        f"from v{bad.release_version} ({bad.sha[:7]}) to v{good.release_version} "
        f"({good.sha[:7]}, deploy #1)"
    )
    expect(page.get_by_role("radio", name=f"#1 · v{good.release_version}")).to_be_checked()
    unchanged = "The add-ons are not changed, nor the database unless you tick"
    expect(page.get_by_text(unchanged)).to_be_visible()
    shoot(
        page,
        "rollback-confirm",
        text=[unchanged, f"#1 · v{good.release_version}"],
        boxes=["h1", "#rollback-route", "button.danger"],
    )
    page.get_by_role("button", name=f"Roll back {APP}").click()

    expect(page.get_by_role("heading", name="Deploy #3 to staging")).to_be_visible()
    expect(page.locator("#deploy-state")).to_have_text("Succeeded", timeout=60000)
    expect(page.locator("#deploy-commit")).to_contain_text(good.sha[:7])
    rollback = Deploy.objects.get(number=3)
    assert heroku_app(demo)["releases"][-1]["commit"] == good.sha

    until_shown(
        page, project_page, live, f"v{rollback.release_version} · {good.sha[:7]} · deploy #3"
    )
    shoot(
        page,
        "project-live-after-rollback",
        text=["deploy #3"],
        boxes=["h1", ".env-card .env-head", ".env-card .live-release", ".recent"],
    )
    home = page.locator(".project-card .live-release")
    until_shown(page, "/", home, f"Live v{rollback.release_version} {good.sha[:7]} #3")
    until_shown(
        page,
        f"/projects/{shop.slug}/deploys/2/",
        page.locator("#deploy-live"),
        f"Replaced by v{rollback.release_version}",
    )
    # From the rollback's own page: the last good deploy is now #2; the sentence follows the choice.
    page.goto(f"/projects/{shop.slug}/deploys/3/rollback/")
    to = page.locator("#rollback-to")
    expect(to).to_have_text(f"v{bad.release_version} ({bad.sha[:7]}, deploy #2)")
    page.get_by_role("radio", name=f"#1 · v{good.release_version}").check()
    expect(to).to_have_text(f"v{good.release_version} ({good.sha[:7]}, deploy #1)")
    assert page.console_errors == []


def deploy(page, project, number):
    page.goto(f"/projects/{project.slug}/deploy/")
    page.get_by_label("Environment").select_option(label=f"staging ({APP})")
    page.get_by_label("Branch or commit").fill("main")
    page.get_by_role("button", name="Start deploy").click()
    expect(page.get_by_role("heading", name=f"Deploy #{number} to staging")).to_be_visible()
    expect(page.locator("#deploy-state")).to_have_text("Succeeded", timeout=60000)
    return Deploy.objects.get(project=project, number=number)


def until_shown(page, url, locator, text, timeout=20.0):
    """Open `url` again until `locator` shows `text`: the worker reads what is live from Heroku
    right after a deploy ends, and kept pages show it on the next view."""
    deadline = time.monotonic() + timeout
    while True:
        page.goto(url)
        shown = " ".join(locator.first.inner_text().split()) if locator.count() else ""
        if text in shown or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    expect(locator.first).to_contain_text(text)
