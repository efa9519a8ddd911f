"""The rollback confirmation in Chromium, with the database restore it offers: the backup taken
before the migration is named, the restore asks for the app name typed, a wrong name starts
nothing, the right one queues the rollback that restores."""

import re

import pytest
from playwright.sync_api import expect

from deploys.models import Deploy, Trigger
from projects.models import Environment
from tests.browser.test_wizard_browser import sign_in
from tests.deploys.conftest import sim  # noqa: F401 (fixture)
from tests.deploys.test_rollback_restore import backed_up  # noqa: F401 (fixture)
from tests.heroku_sim.fixtures import APP

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def credential(project, sim, alice):  # noqa: F811
    from tests.conftest import store_heroku_key

    return store_heroku_key(project, sim.api_key, alice)


@pytest.fixture
def environment(project, credential, settings):
    if settings.EMBEDDED_REDIS:
        from herokucd.embedded_redis import ensure_running

        ensure_running(settings.DATA_DIR)
    return Environment.objects.create(
        project=project, name="production", branch="main", app_name=APP
    )


def test_the_rollback_confirmation_offers_the_restore_and_wants_the_app_name(
    browser_page,
    shoot,
    backed_up,  # noqa: F811
    alice,
):
    first, second = backed_up
    page = browser_page
    sign_in(page, "alice")
    page.goto(second.get_absolute_url())
    page.get_by_role("link", name="Roll back").first.click()
    offer = page.locator(f"#restore-v{first.release_version}")
    expect(offer).to_be_visible()
    expect(offer).to_contain_text("Deploy #2 ran a database migration")
    box = offer.get_by_label("Also restore the database from backup b001 taken before deploy #2")
    expect(box).not_to_be_checked()
    box.check()
    confirm = offer.get_by_label(f"Type the app name {APP} to confirm the restore")
    confirm.fill("foo-bar")
    shoot(
        page,
        "rollback-restore-confirmation",
        text=["Also restore the database from backup", "Everything written to the database"],
        boxes=["h1", "#rollback-route", f"#restore-v{first.release_version}", "#rollback-form"],
    )
    page.get_by_role("button", name=f"Roll back {APP}").click()
    expect(
        page.get_by_text(f"type the app name {APP} exactly; nothing was started")
    ).to_be_visible()
    assert not Deploy.objects.filter(trigger=Trigger.ROLLBACK).exists()

    box = page.get_by_label("Also restore the database from backup b001 taken before deploy #2")
    box.check()
    page.get_by_label(f"Type the app name {APP} to confirm the restore").fill(APP)
    page.get_by_role("button", name=f"Roll back {APP}").click()
    expect(page).to_have_url(re.compile(r"/deploys/3/$"))
    rollback = Deploy.objects.get(trigger=Trigger.ROLLBACK)
    assert rollback.restore_backup_name == "b001"
    assert page.console_errors == []
