"""A destructive action asks in a native dialog, with the words the server would ask with."""

import pytest
from playwright.sync_api import expect

from deploys import webhooks
from deploys.trigger_models import NotificationTarget, WebhookEndpoint
from tests.browser.test_wizard_browser import sign_in
from tests.deploys.factories import make_environment

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_stop_notifying_asks_in_a_dialog_and_keeping_changes_nothing(
    browser_page, shoot, project, alice
):
    NotificationTarget.objects.create(
        environment=make_environment(project), kind="email", address="ops@example.com"
    )
    page = browser_page
    sign_in(page, "alice")
    page.goto("/projects/foo-bar/notifications/")
    page.get_by_role("button", name="Stop notifying ops@example.com").click()

    dialog = page.get_by_role("dialog", name="Stop notifying ops@example.com?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("will no longer be told when deploys of staging fail")
    expect(dialog.get_by_role("button", name="Keep notifying")).to_be_focused()
    shoot(
        page,
        "stop-notifying-dialog",
        text=["will no longer be told when deploys of staging fail", "Keep notifying"],
        boxes=["dialog[open]", "dialog[open] button"],
    )
    dialog.get_by_role("button", name="Keep notifying").click()
    expect(dialog).to_be_hidden()
    assert NotificationTarget.objects.exists()

    page.get_by_role("button", name="Stop notifying ops@example.com").click()
    page.keyboard.press("Escape")  # a native dialog: Escape keeps things as they are
    expect(dialog).to_be_hidden()
    assert NotificationTarget.objects.exists()

    page.get_by_role("button", name="Stop notifying ops@example.com").click()
    dialog.get_by_role("button", name="Stop notifying ops@example.com").click()
    expect(page.get_by_text("ops@example.com will no longer be notified.")).to_be_visible()
    assert not NotificationTarget.objects.exists()
    assert page.console_errors == []


def test_rotating_asks_then_shows_the_url_with_the_new_secret(browser_page, shoot, project, alice):
    endpoint = WebhookEndpoint.objects.create(project=project, secret="a" * 64)
    webhooks.record_rejected(
        endpoint,
        {"X-GitHub-Event": "workflow_run", "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab"},
        401,
        "Signature does not match the webhook's secret: check the secret in your CI settings.",
        "192.0.2.10",
    )
    page = browser_page
    sign_in(page, "alice")
    page.goto("/projects/foo-bar/triggers/")
    expect(page.locator("#deliveries")).to_contain_text("check the secret in your CI settings")
    shoot(
        page,
        "triggers-with-a-refused-delivery",
        text=["Webhook deliveries", "check the secret in your CI settings"],
        boxes=["h1", "#deliveries", ".deliveries"],
    )
    page.get_by_role("button", name="Rotate secret").click()
    dialog = page.get_by_role("dialog", name="Rotate the webhook's signing secret?")
    dialog.get_by_role("button", name="Rotate secret").click()
    expect(page.locator("#webhook-url")).to_have_text(
        f"{page.url.split('/projects/')[0]}/hooks/{endpoint.public_id}/"
    )
    endpoint.refresh_from_db()
    expect(page.locator("#secret")).to_have_text(endpoint.secret)
