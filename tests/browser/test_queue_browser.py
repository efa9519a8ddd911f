"""A deploy queued behind a running one, in Chromium, in `make demo`'s setup (the simulator, the
sample repository, a real rqworker): its page says what it waits behind, the project page and
the history show the running deploy and the queue, and the page follows by itself as the
queued deploy starts once the running one ends."""

import re
import time

import django_rq
import pytest
from playwright.sync_api import expect

from deploys.management.commands.demo import APPS, DEMO_EMAIL, DEMO_USER, MIGRATION
from deploys.models import Deploy, State, StepState
from deploys.services import request_deploy
from projects.models import Environment, Membership, Project, Role
from tests.browser import test_demo_flow
from tests.conftest import store_heroku_key
from tests.gitrepo import GitRepo

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# The demo harness's fixtures: `make demo`'s simulator and sample repository, a real rqworker.
demo, worker = test_demo_flow.demo, test_demo_flow.worker
APP = APPS[0]  # demo-staging
# Long enough for the page to be looked at while the deploy ahead still runs its migration.
SLOW_MIGRATION = f"sleep 6; {MIGRATION}"


@pytest.fixture
def staging(demo):
    """The demo project as the wizard leaves it, with a slow migration on staging."""
    user = Membership.user.field.related_model.objects.get(username=DEMO_USER)
    project = Project.objects.create(
        name="Demo shop", slug="demo-shop", repository_url=str(demo.repository), created_by=user
    )
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    store_heroku_key(project, demo.api_key, user, email=DEMO_EMAIL)
    return Environment.objects.create(
        project=project,
        name="staging",
        branch="main",
        app_name=APP,
        migration_command=SLOW_MIGRATION,
    )


@pytest.fixture
def empty_queue():
    """Jobs left by earlier tests name deploy ids that may be reused: drop them."""
    queue = django_rq.get_queue("default")
    queue.empty()
    for job_id in queue.scheduled_job_registry.get_job_ids():
        queue.scheduled_job_registry.remove(job_id, delete_job=True)


def test_a_queued_deploy_shows_what_it_waits_behind_then_starts_when_it_ends(
    browser_page, shoot, demo, empty_queue, worker, staging
):
    page = browser_page
    user = staging.project.created_by
    first = request_deploy(staging, branch="main", user=user)
    wait_for_migration(first)
    sha = GitRepo(demo.repository).commit("CHANGES.md", "A second release.\n", "Second release")
    second = request_deploy(staging, sha=sha, branch="main", user=user)

    sign_in(page, demo.password)
    page.goto(second.get_absolute_url())
    note = page.locator("#queue-note")
    expect(note).to_contain_text(
        re.compile(r"Waiting behind #1 \(running on demo-staging, step \d of \d+, started")
    )
    expect(note.get_by_role("link", name="#1")).to_have_attribute("href", first.get_absolute_url())
    expect(page.locator("#deploy-state")).to_have_text("Queued")
    expect(page.locator("#progress-title")).to_contain_text("Not started yet")
    shoot(
        page,
        "queued-behind-running",
        text=["Waiting behind #1", "Not started yet"],
        boxes=["h1", "#deploy-state", "#queue-note", ".facts", "#deploy-actions button"],
    )

    page.goto(staging.project.get_absolute_url())
    card = page.locator(".env-card", has_text="staging")
    expect(card.locator(".env-head .badge")).to_have_text("Running")
    expect(card.get_by_role("link", name="+1 queued")).to_be_visible()
    shoot(
        page,
        "project-running-and-queued",
        text=["+1 queued", "Running"],
        boxes=["h1", ".env-card .env-head", ".env-card .badge", ".recent"],
    )
    page.goto(f"{staging.project.get_absolute_url()}deploys/")
    expect(page.get_by_role("row", name=re.compile("#2"))).to_contain_text("1st behind #1")
    page.goto("/")
    expect(page.locator(".env-list li", has_text="staging")).to_contain_text("+1 queued")
    shoot(
        page,
        "home-running-and-queued",
        text=["Demo shop", "+1 queued"],
        boxes=["h1", ".project-card", ".env-list .badge"],
    )

    # Left open, the queued deploy's page follows by itself: it starts once #1 ends.
    page.goto(second.get_absolute_url())
    expect(note).to_be_visible()
    expect(note).to_be_hidden(timeout=90000)
    expect(page.locator("#deploy-state")).to_have_text(re.compile("Running|Succeeded"))
    expect(page.locator("#deploy-state")).to_have_text("Succeeded", timeout=90000)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == State.SUCCEEDED and first.finished_at <= second.started_at
    assert page.console_errors == []


def wait_for_migration(deploy, timeout=60):
    """Until the deploy runs its migration (several seconds more of it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        migrating = deploy.steps.filter(name="migrate", state=StepState.RUNNING).exists()
        if migrating:
            return
        if Deploy.objects.get(pk=deploy.pk).is_finished:
            raise AssertionError(f"#{deploy.number} ended before its migration")
        time.sleep(0.2)
    raise AssertionError(f"#{deploy.number} did not reach its migration in {timeout} s")


def sign_in(page, password):
    page.goto("/login/")
    page.get_by_label("Username").fill(DEMO_USER)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="Demo shop").first).to_be_visible()
