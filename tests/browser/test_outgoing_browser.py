"""What is going out, in Chromium: a queued deploy's page lists the commits between what is
live and its commit, with the migration flagged, readable at 1280 and 390 px."""

import pytest
from playwright.sync_api import expect

from deploys.models import State
from tests.browser.test_wizard_browser import sign_in
from tests.deploys.factories import make_deploy, make_environment
from tests.deploys.test_outgoing import cloned, history  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_deploy_page_lists_what_goes_out(
    browser_page,
    shoot,
    project,
    alice,
    cloned,  # noqa: F811
    history,  # noqa: F811
):
    live, target = history
    cloned()
    environment = make_environment(project, "production")
    make_deploy(project, environment, sha=live)
    deploy = make_deploy(project, environment, state=State.QUEUED, sha=target)

    page = browser_page
    sign_in(page, "alice")
    page.goto(deploy.get_absolute_url())
    expect(page.locator("#outgoing-count")).to_contain_text("4 commits, 1 merge")
    shoot(
        page,
        "outgoing",
        text=["What is going out", "shop/migrations/0002_price.py", "Add the price column"],
        boxes=["#outgoing-commits", "#outgoing-migrations"],
    )
