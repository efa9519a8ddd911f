"""An administrator invites someone, who joins through the link in a browser of their own."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_wizard_browser import sign_in
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_an_invited_person_joins_and_is_told_how_to_get_a_project(
    browser_page, chromium, live_server, shoot, make_user
):
    make_user("root", is_staff=True, is_superuser=True)
    page = browser_page
    sign_in(page, "root")
    page.locator(".user-menu summary").click()
    page.get_by_role("link", name="Invite users").click()
    page.get_by_label("Email address").fill("dana@example.com")
    page.get_by_role("button", name="Create invitation link").click()
    link = page.get_by_label("Invitation link (shown only now)").input_value()
    expect(page.get_by_text("dana@example.com")).to_be_visible()
    shoot(
        page,
        "invitations",
        text=["Invitation link (shown only now)", "dana@example.com"],
        boxes=["h1", "#invitation-link", ".primary"],
    )

    guest = chromium.new_context(base_url=live_server.url).new_page()
    guest.goto(link)
    expect(guest.get_by_label("Email address")).to_have_value("dana@example.com")
    guest.get_by_label("Username").fill("dana")
    guest.get_by_label("Password", exact=True).fill(PASSWORD)
    guest.get_by_label("Password confirmation").fill(PASSWORD)
    shoot(
        guest,
        "invitation-accept",
        text=["Join herokucd", "Password confirmation"],
        boxes=["h1", ".field", ".primary"],
    )
    guest.get_by_role("button", name="Create my account").click()
    expect(guest.get_by_text("Welcome, dana.")).to_be_visible()
    expect(guest.get_by_text("Ask a project's admin to add you as dana")).to_be_visible()
    expect(guest.get_by_role("link", name="New project")).to_have_count(0)
    shoot(
        guest,
        "home-without-projects",
        text=["No projects yet", "Ask a project's admin to add you as"],
        boxes=["h1", ".empty.card", ".message"],
    )

    guest.goto(link)
    expect(guest.get_by_text("This invitation has been used already.")).to_be_visible()
