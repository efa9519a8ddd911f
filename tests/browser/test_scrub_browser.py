"""The settings page shows each scrub of the stored logs: what changed, how far it got, what it
could not do."""

import pytest
from playwright.sync_api import expect

from deploys.scrub_models import LogScrub, ScrubState
from tests.browser.test_wizard_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_settings_page_shows_scrub_progress_and_problems(browser_page, shoot, project, alice):
    LogScrub.objects.create(
        project=project,
        reason="The Heroku API key was replaced",
        state=ScrubState.FAILED,
        chunks_total=4,
        chunks_done=4,
        chunks_changed=2,
        problems=["Deploy #7, lines 1-2000, is not in herokucd's log format and could not be read"],
    )
    LogScrub.objects.create(
        project=project,
        reason="SECRET_TOKEN added to the config vars redacted from the logs of production",
        state=ScrubState.RUNNING,
        chunks_total=10,
        chunks_done=3,
    )
    page = browser_page
    sign_in(page, "alice")
    page.goto(f"/projects/{project.slug}/settings/")
    panel = page.locator("#log-scrubs")
    expect(panel.get_by_text("3 of 10 log chunks read (30%)")).to_be_visible()
    expect(panel.get_by_role("progressbar", name="Scrub progress")).to_be_visible()
    expect(panel.get_by_role("alert")).to_contain_text("Deploy #7, lines 1-2000")
    expect(panel.get_by_text("Done with problems")).to_be_visible()
    shoot(
        page,
        "settings-log-scrubs",
        text=["Stored logs scrubbed", "Running", "Done with problems"],
        boxes=["#log-scrubs h2", "#log-scrubs .scrubs", "#log-scrubs .warning-list"],
    )
