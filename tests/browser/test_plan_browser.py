"""The Plan button in Chromium: from the Deploy form, a dry run that lists the steps with their
settings, the commits going out and the problems found, and starts no deploy."""

import shutil
import subprocess

import pytest
from playwright.sync_api import expect

from deploys import mirror
from deploys.models import Deploy
from projects.models import CacheFlush, MaintenanceMode
from tests.browser.test_wizard_browser import sign_in
from tests.conftest import store_heroku_key
from tests.deploys.conftest import sim_env
from tests.deploys.factories import make_deploy, make_environment
from tests.heroku_sim.fixtures import APP

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def repository(project, git_repo):
    """main three commits ahead of the live one; the project's mirror cloned."""
    git_repo.commit("live.txt", "live", "What runs now")
    for subject in ["Add the orders table", "Show orders on the dashboard"]:
        git_repo.commit(subject[:8], subject, subject)
    path = mirror.mirror_path(project)
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "--mirror", "-q", str(git_repo.path), str(path)], check=True)
    yield git_repo
    shutil.rmtree(path, ignore_errors=True)


def test_plan_shows_what_a_deploy_would_do_and_deploys_nothing(
    browser_page, shoot, project, alice, repository, heroku_sim, settings
):
    for name, value in sim_env(heroku_sim).items():
        setattr(settings, name, value)
    store_heroku_key(project, heroku_sim.api_key, alice)
    production = make_environment(
        project,
        "production",
        app_name=APP,
        maintenance_mode=MaintenanceMode.MIGRATIONS,
        migration_command="python manage.py migrate",
        scale_down_types="worker",
        backup_before_migrate=True,
        cache_flush=CacheFlush.REDIS,
        cache_config_vars="REDIS_URL",
        health_check_url="https://monitor:hunter2-secret@example.com/health",
    )
    make_deploy(project, production, sha=repository.git("rev-parse", "main~2").strip())
    page = browser_page
    sign_in(page, "alice")
    page.goto(f"/projects/{project.slug}/deploy/")
    page.get_by_role("button", name="Plan").click()

    expect(page.get_by_role("heading", name="Plan: a dry run")).to_be_visible()
    steps = page.locator(".plan-steps > li")
    names = steps.evaluate_all("items => items.map(i => i.dataset.step)")
    assert names == [
        "checkout",
        "backup",
        "maintenance_on",
        "scale_down",
        "push",
        "release_phase",
        "migrate",
        "scale_back",
        "maintenance_off",
        "cache_flush",
        "health_check",
    ]
    expect(page.locator('[data-step="scale_down"]')).to_contain_text("2 now, 0 during")
    expect(page.locator(".plan-problems")).to_contain_text("REDIS_URL")
    expect(page.locator(".plan-commits li")).to_have_count(2)
    expect(page.locator(".plan-budget")).to_contain_text("73 of 75 git requests left")
    assert "hunter2-secret" not in page.content()
    shoot(
        page,
        "plan",
        text=["Plan: a dry run", "Problems found now", "Show orders on the dashboard"],
        boxes=["h1", ".plan-problems", ".plan-steps", ".plan-commits"],
    )
    assert Deploy.objects.count() == 1  # the live one: the plan started nothing


def test_a_webhook_delivery_replays_as_a_plan_from_the_triggers_page(
    browser_page, shoot, project, alice, repository, heroku_sim, settings
):
    from deploys.trigger_models import Outcome, WebhookEndpoint, WebhookEvent

    for name, value in sim_env(heroku_sim).items():
        setattr(settings, name, value)
    store_heroku_key(project, heroku_sim.api_key, alice)
    staging = make_environment(project, "staging", app_name=APP)
    endpoint = WebhookEndpoint.objects.create(project=project, secret="x" * 32)
    sha = repository.head()
    WebhookEvent.objects.create(
        endpoint=endpoint,
        provider="github",
        branch="main",
        sha=sha,
        outcome=Outcome.HELD,
        reason="Not deployed: staging is locked.",
        environment=staging,
    )
    page = browser_page
    sign_in(page, "alice")
    page.goto(f"/projects/{project.slug}/triggers/")
    page.get_by_role("link", name=f"Plan delivery {sha[:7]}").click()

    expect(
        page.get_by_role("heading", name=f"Plan: a dry run of webhook delivery {sha[:7]}")
    ).to_be_visible()
    expect(page.locator(f"#plan-{staging.pk} .plan-sha")).to_have_text(sha[:7])
    expect(page.locator(".plan-steps > li")).to_have_count(3)
    shoot(
        page,
        "delivery-plan",
        text=["Plan: a dry run of webhook delivery", "Back to the deliveries"],
        boxes=["h1", ".plan-steps", ".plan-budget"],
    )
    assert not Deploy.objects.exists()
