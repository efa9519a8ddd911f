"""Locks, approvals and freeze windows in Chromium, as people use them: a lock holds a green build
that unlocking offers to deploy; a deploy waits until someone else approves it; a freeze window
added on the Protection page holds a green build."""

import json
from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from playwright.sync_api import expect

from deploys.models import Deploy, State
from deploys.trigger_models import WebhookEndpoint
from projects.models import Environment, Membership, Role
from tests.browser.test_wizard_browser import sign_in
from tests.triggers import payloads
from tests.triggers.conftest import SECRET, sign

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def redis_up(settings):
    if settings.EMBEDDED_REDIS:  # deploys are queued: Redis must answer
        from herokucd.embedded_redis import ensure_running

        ensure_running(settings.DATA_DIR)


@pytest.fixture
def production(project, redis_up):
    return Environment.objects.create(
        project=project, name="production", branch="main", app_name="acme-prod"
    )


@pytest.fixture
def endpoint(project):
    return WebhookEndpoint.objects.create(project=project, secret=SECRET)


def send_green_build(live_server, endpoint, sha, delivery):
    body = json.dumps(payloads.github_workflow_run(branch="main", sha=sha)).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "workflow_run",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": f"sha256={sign(SECRET, body)}",
    }
    response = requests.post(
        live_server.url + endpoint.get_absolute_url(), data=body, headers=headers, timeout=10
    )
    assert response.status_code == 202, response.text
    return response.json()


def test_lock_holds_a_green_build_and_unlock_deploys_it(
    browser_page, shoot, live_server, project, production, endpoint, alice
):
    page = browser_page
    sign_in(page, "alice")
    page.goto(f"/projects/{project.slug}/protection/")
    page.get_by_label("Reason to lock production").fill("Database migration under way")
    page.get_by_role("button", name="Lock production").click()
    expect(page.get_by_text("Locked production: webhook deploys are held.")).to_be_visible()

    answer = send_green_build(live_server, endpoint, "2" * 40, "d-1")
    assert answer["outcome"] == "held"
    assert not Deploy.objects.exists()

    page.goto(f"/projects/{project.slug}/")
    gates = page.locator(".gates")
    expect(gates).to_contain_text("by alice")
    expect(gates).to_contain_text("Database migration under way")
    expect(gates).to_contain_text("Commit 2222222 of main from github")
    shoot(
        page,
        "project-locked",
        text=["Locks, approvals and freeze windows", "Database migration under way"],
        boxes=["h1", ".gates", ".env-card"],
    )

    page.get_by_role("link", name="Protection").first.click()
    page.get_by_role("button", name="Unlock production").click()
    expect(page.get_by_text("Commit 2222222 was held meanwhile")).to_be_visible()
    shoot(
        page,
        "protection-unlocked",
        text=["Unlocked production.", "Deploy 2222222 to production"],
        boxes=["h1", ".protection-env", ".gate-held button"],
    )
    page.get_by_role("button", name="Deploy 2222222 to production").click()
    expect(page.locator("#deploy-state")).to_have_text("Queued")
    deploy = Deploy.objects.get()
    assert (deploy.sha, deploy.state) == ("2" * 40, State.QUEUED)


def test_a_deploy_waits_until_another_person_approves_it(
    browser_page, shoot, project, production, alice, bob
):
    Membership.objects.create(project=project, user=bob, role=Role.ADMIN)
    production.required_approvals = 1
    production.save()
    page = browser_page
    sign_in(page, "alice")
    page.goto(f"/projects/{project.slug}/deploy/")
    page.get_by_label("Branch or commit").fill("main")
    page.get_by_role("button", name="Start deploy").click()
    expect(page.locator("#deploy-state")).to_have_text("Waiting for approval")
    expect(page.get_by_text("Waiting for approval: 0 of 1")).to_be_visible()
    expect(
        page.get_by_text("You started this deploy: someone else must approve it.")
    ).to_be_visible()
    deploy_url = page.url

    bobs = page.context.browser.new_context(base_url=page.url.split("/projects/")[0])
    other = bobs.new_page()
    sign_in(other, "bob")
    other.goto(deploy_url)
    shoot(
        other,
        "waiting-for-approval",
        text=["Waiting for approval: 0 of 1", "Approve deploy #1"],
        boxes=["h1", "#approval", ".approval-form button"],
    )
    other.get_by_label("Comment").fill("Checked the migration, go")
    other.get_by_role("button", name="Approve deploy #1").click()
    expect(other.get_by_text("it has all its approvals and is queued")).to_be_visible()
    expect(other.locator("#deploy-state")).to_have_text("Queued")
    expect(other.get_by_text("Checked the migration, go")).to_be_visible()
    bobs.close()
    assert Deploy.objects.get().state == State.QUEUED


def test_a_freeze_window_holds_a_green_build(
    browser_page, shoot, live_server, project, production, endpoint, alice
):
    page = browser_page
    sign_in(page, "alice")
    page.goto(f"/projects/{project.slug}/protection/")
    page.get_by_role("link", name="Add a freeze window").click()
    page.get_by_label("Title").fill("Never")
    page.get_by_label("Once").check()
    page.get_by_label("Starts").fill("2030-01-02T10:00")
    page.get_by_label("Ends").fill("2030-01-01T10:00")
    page.get_by_role("button", name="Add the freeze window").click()
    expect(page.get_by_text("The window ends before it starts")).to_be_visible()
    shoot(
        page,
        "window-refused",
        text=["New freeze window", "The window ends before it starts"],
        boxes=["h1", ".window-form", ".window-form button.primary"],
    )
    now = timezone.now()
    page.get_by_label("Title").fill("Year-end freeze")
    page.get_by_label("Time zone").select_option("UTC")
    page.get_by_label("Once").check()
    page.get_by_label("Starts").fill(f"{now - timedelta(hours=1):%Y-%m-%dT%H:%M}")
    page.get_by_label("Ends").fill(f"{now + timedelta(hours=2):%Y-%m-%dT%H:%M}")
    page.get_by_role("button", name="Add the freeze window").click()
    expect(page.get_by_text("Added the freeze window “Year-end freeze”.")).to_be_visible()
    shoot(
        page,
        "protection-window",
        text=["Freeze windows", "Year-end freeze", "Frozen"],
        boxes=["h1", ".protection-env", "table"],
    )

    answer = send_green_build(live_server, endpoint, "3" * 40, "d-9")
    assert answer["outcome"] == "held"
    assert "freeze window “Year-end freeze” until" in answer["reason"]
    assert not Deploy.objects.exists()

    page.goto(f"/projects/{project.slug}/")
    gates = page.locator(".gates")
    expect(gates).to_contain_text("Frozen")
    expect(gates).to_contain_text("Commit 3333333 of main")
    shoot(
        page,
        "project-frozen",
        text=["Frozen", "deploys do not start"],
        boxes=["h1", ".gates", ".env-card"],
    )


def test_an_admin_overrides_a_lock_with_a_reason_from_the_deploy_form(
    browser_page, shoot, project, production, alice
):
    from deploys import gates

    gates.lock(production, alice, "Payment provider migration")
    page = browser_page
    sign_in(page, "alice")
    page.goto(f"/projects/{project.slug}/deploy/")
    expect(page.locator(".gate-notice")).to_contain_text(
        "production is locked by alice: Payment provider migration"
    )
    page.get_by_label("Branch or commit").fill("main")
    page.get_by_label("Override the lock or freeze window").check()
    page.get_by_role("button", name="Start deploy").click()
    expect(page.locator("#id_override_reason_error_0")).to_contain_text(
        "An override needs a reason"
    )
    shoot(
        page,
        "override-refused",
        text=["An override needs a reason", "Reason for the override"],
        boxes=["h1", ".gate-notice", "#deploy-form button.primary"],
    )
    page.get_by_label("Override the lock or freeze window").check()
    page.get_by_label("Reason for the override").fill("Checkout is down for every customer")
    page.get_by_role("button", name="Start deploy").click()
    expect(page.locator("#deploy-override")).to_contain_text("Checkout is down for every customer")
    assert Deploy.objects.get().override_reason == "Checkout is down for every customer"
