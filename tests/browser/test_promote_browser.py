"""Promote in Chromium: from a succeeded staging deploy, the confirmation page names the release,
the commit, the target app and what runs there; its button queues the promotion and lands on
the promotion's own deploy page, marked as a promotion from the staging deploy."""

import pytest
from playwright.sync_api import expect

from deploys import jobs
from deploys.models import Deploy, Trigger
from tests.browser.test_wizard_browser import sign_in
from tests.deploys.test_promotion import (  # noqa: F401 (fixtures)
    STAGING,
    deployed,
    pipeline_sim,
    production,
    sim,
    staging,
)
from tests.heroku_sim.fixtures import APP

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def credential(project, sim, alice):  # noqa: F811 (the simulator of the pipeline)
    from tests.conftest import store_heroku_key

    return store_heroku_key(project, sim.api_key, alice)


@pytest.fixture
def environment(project, credential, redis_up):
    from projects.models import Environment

    return Environment.objects.create(
        project=project, name="production", branch="main", app_name=APP
    )


@pytest.fixture
def redis_up(settings):
    if settings.EMBEDDED_REDIS:
        from herokucd.embedded_redis import ensure_running

        ensure_running(settings.DATA_DIR)


def test_promote_confirms_then_opens_the_promotions_deploy_page(
    browser_page,
    shoot,
    deployed,  # noqa: F811
    sim,  # noqa: F811
    alice,
):
    page = browser_page
    sign_in(page, "alice")
    page.goto(deployed.get_absolute_url())
    page.get_by_role("link", name="Promote…").click()
    version = deployed.release_version
    heading = f"Promote staging's release to production ({APP})?"
    expect(page.get_by_role("heading", name=heading)).to_be_visible()
    expect(page.locator("#promote-source")).to_contain_text(f"v{version} of {STAGING}")
    expect(page.locator("#promote-commit")).to_have_text(deployed.sha[:7])
    expect(page.locator("#promote-target")).to_contain_text(APP)
    live = sim.app_state(APP)["releases"][-1]["version"]
    expect(page.locator("#promote-live")).to_contain_text(f"v{live}")
    expect(page.locator("#promote-steps")).to_contain_text("nothing is built or pushed")
    shoot(
        page,
        "promote-confirmation",
        text=[heading, "Steps on foo-bar-123", f"Promote v{version} to {APP}"],
        boxes=["h1", ".facts", "#promote-steps", "#promote-form button"],
    )
    assert not Deploy.objects.filter(trigger=Trigger.PROMOTION).exists()

    page.get_by_role("button", name=f"Promote v{version} to {APP}").click()
    promotion = Deploy.objects.get(trigger=Trigger.PROMOTION)
    expect(page).to_have_url(f"{page.url.split('/projects/')[0]}{promotion.get_absolute_url()}")
    expect(page.locator("#promoted-from")).to_contain_text(f"promotion from #{deployed.number}")
    jobs.run_deploy(promotion.pk)
    page.reload()
    expect(page.locator("#deploy-state")).to_have_text("Succeeded")
    shoot(
        page,
        "promotion-deploy-page",
        text=[f"promotion from #{deployed.number}", "Succeeded"],
        boxes=["h1", "#deploy-state", ".facts"],
    )
    assert sim.app_state(APP)["current_commit"] == deployed.sha
    assert page.console_errors == []
