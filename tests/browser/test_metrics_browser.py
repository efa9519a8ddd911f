"""The Metrics page in Chromium: four charts with their numbers, the weekly table and the
definitions, readable at 1280 and 390 px; choosing an environment narrows them to it."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from deploys.models import State, Trigger
from tests.browser.test_wizard_browser import sign_in
from tests.deploys.factories import make_environment
from tests.deploys.test_metrics import add

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_metrics_page_charts_four_keys_with_their_numbers(browser_page, shoot, project, alice):
    production = make_environment(project, "production")
    staging = make_environment(project, "staging")
    now = datetime.now(UTC)
    for day in range(0, 40, 3):
        finished = now - timedelta(days=day, hours=2)
        add(project, production, finished, commit_at=finished - timedelta(hours=day % 7 + 1))
        if day % 9 == 0:
            add(project, production, finished + timedelta(minutes=20), state=State.FAILED)
            add(project, production, finished + timedelta(minutes=50), trigger=Trigger.ROLLBACK)
    add(project, staging, now - timedelta(days=1))

    page = browser_page
    sign_in(page, "alice")
    page.goto(f"/projects/{project.slug}/metrics/")
    expect(page.get_by_role("heading", name="Deployment frequency")).to_be_visible()
    shoot(
        page,
        "metrics",
        text=["Lead time for changes", "Change failure rate", "Time to restore", "Week by week"],
        boxes=["#metric-frequency svg", "#metric-restore svg", "#metrics-table", "form.filters"],
    )
    assert page.locator("#metric-frequency rect").count() == 12

    page.get_by_label("Environment").select_option(label="staging")
    page.get_by_label("Period").select_option(label="4 weeks")
    page.get_by_role("button", name="Show metrics").click()
    expect(page.get_by_text("Delivery metrics of staging")).to_be_visible()
    expect(page.locator("#frequency-total")).to_contain_text("(1 succeeded deploy)")
    assert page.locator("#metric-frequency rect").count() == 4
    assert page.console_errors == []
