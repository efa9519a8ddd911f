# ruff: noqa: F811 (the demo fixtures are imported, then named as parameters)
"""The deploy page tells the truth about what is live, in the demo setup (`start_demo`'s simulator
and sample repository, a real rqworker), as a user sees it in Chromium: a redeploy after a
rollback is no false success, and a failed migration says where it left the app."""

import subprocess
import time

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from deploys import gates
from deploys.management.commands.demo import APPS, DEMO_USER, MIGRATION
from deploys.models import Deploy, State
from deploys.services import request_deploy, rollback_deploy
from projects.models import Environment, MaintenanceMode, Membership, Project, Role
from tests.browser.conftest import DEPLOY_PAGE
from tests.browser.test_demo_flow import demo, heroku_app, worker  # noqa: F401 (fixtures)
from tests.browser.test_live_browser import until_shown
from tests.conftest import store_heroku_key

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

APP = APPS[0]


@pytest.fixture
def staging(demo):
    """The demo's project as the wizard leaves it: the key saved, staging on demo-staging."""
    user = get_user_model().objects.get(username=DEMO_USER)
    project = Project.objects.create(
        name="Demo shop", slug="demo-shop", repository_url=str(demo.repository), created_by=user
    )
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    store_heroku_key(project, demo.api_key, user, email="demo@example.com")
    return Environment.objects.create(
        project=project, name="staging", branch="main", app_name=APP, migration_command=MIGRATION
    )


def finished(deploy, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deploy.refresh_from_db()
        if deploy.is_finished:
            return deploy
        time.sleep(0.3)
    raise AssertionError(f"deploy #{deploy.number} did not finish")


def commit(repository, path, content, message):
    (repository / path).write_text(content)
    identity = ["-c", "user.name=demo", "-c", "user.email=demo@example.com"]
    for args in (["add", "."], [*identity, "commit", "-q", "-m", message]):
        subprocess.run(["git", *args], cwd=repository, check=True, capture_output=True)


def sign_in(page, password):
    page.goto("/login/")
    page.get_by_label("Username").fill(DEMO_USER)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="New project").first).to_be_visible()


def test_retrying_a_rolled_back_deploy_is_no_false_success(
    browser_page,
    shoot,
    demo,
    worker,
    staging,
):
    user = get_user_model().objects.get(username=DEMO_USER)
    first = finished(request_deploy(staging, user=user, branch="main"))
    commit(demo.repository, "NEWS.md", "A newer version\n", "A newer version")
    second = finished(request_deploy(staging, user=user, branch="main"))
    assert (first.state, second.state) == (State.SUCCEEDED, State.SUCCEEDED)
    rollback = finished(rollback_deploy(second, user, first.release_version))
    assert rollback.state == State.SUCCEEDED
    assert gates.unlock(staging, user)  # the rollback locked staging: unlocked to retry
    live = heroku_app(demo)["releases"][-1]
    assert live["commit"] == first.sha

    page = browser_page
    sign_in(page, demo.password)
    page.goto(second.get_absolute_url())
    page.get_by_role("button", name="Retry deploy").click()
    retry = Deploy.objects.get(retry_of=second)
    expect(page.get_by_role("heading", name=f"Deploy #{retry.number} to staging")).to_be_visible()
    expect(page.locator("#deploy-state")).to_have_text("Failed", timeout=60000)
    expect(page.locator("#deploy-reason")).to_contain_text(
        f"Heroku's git branch already had commit {second.sha[:7]}, so the push built nothing "
        f"and release v{live['version']} (commit {first.sha[:7]}) is still live."
    )
    end = page.locator("#end-state")  # shown live as the deploy ends, no reload
    expect(end).to_contain_text(f"Live: release v{live['version']} (commit {first.sha[:7]})")
    expect(end).to_contain_text("this deploy's code is not live")
    expect(end).to_contain_text("The migration did not run")
    expect(page.locator("#deploy-release")).to_have_text("—")
    shoot(
        page,
        "redeploy-after-rollback",
        text=["Failed", "this deploy's code is not live"],
        boxes=[*DEPLOY_PAGE, "#end-state"],
    )
    page.reload()
    expect(page.locator("#end-state")).to_contain_text("this deploy's code is not live")
    assert heroku_app(demo)["releases"][-1]["id"] == live["id"]  # Heroku released nothing
    # The project's card says what Heroku runs: the rollback's release of the first commit.
    card = page.locator(".env-card .live-release")
    until_shown(
        page, staging.project.get_absolute_url(), card, f"v{live['version']} · {first.sha[:7]}"
    )
    expect(card).to_contain_text(f"deploy #{rollback.number}")
    assert page.console_errors == []


def test_a_failed_migration_shows_the_apps_state_and_roll_back_to_last_good(
    browser_page,
    shoot,
    demo,
    worker,
    staging,
):
    user = get_user_model().objects.get(username=DEMO_USER)
    staging.maintenance_mode = MaintenanceMode.DEPLOY
    staging.scale_down_types = "worker"
    staging.save()
    good = finished(request_deploy(staging, user=user, branch="main"))
    assert good.state == State.SUCCEEDED, good.reason
    commit(demo.repository, "bin/migrate", "#!/bin/sh\necho 'Applying shop.0004'\nexit 1\n", "Bad")
    failed = finished(request_deploy(staging, user=user, branch="main"))
    assert failed.state == State.FAILED

    page = browser_page
    sign_in(page, demo.password)
    page.goto(failed.get_absolute_url())
    expect(page.locator("#deploy-reason")).to_have_text("The migration exited with status 1.")
    end = page.locator("#end-state")
    expect(end).to_contain_text(
        f"Live: release v{failed.release_version} (commit {failed.sha[:7]}), this deploy's release."
    )
    expect(end).to_contain_text("Maintenance mode is off.")
    expect(end).to_contain_text("Processes: web=1, worker=1.")
    expect(end).to_contain_text(
        "The migration ran and exited with status 1: the database may be half-migrated."
    )
    link = end.get_by_role("link", name=f"Roll back to #{good.number} (last good)")
    expect(link).to_have_attribute(
        "href", f"/projects/demo-shop/deploys/{failed.number}/rollback/?to={good.number}"
    )
    shoot(
        page,
        "failed-migration-banner",
        text=["Maintenance mode is off.", f"Roll back to #{good.number} (last good)"],
        boxes=[*DEPLOY_PAGE, "#end-state"],
    )
    card = page.locator(".env-card .live-release")
    until_shown(page, staging.project.get_absolute_url(), card, f"v{failed.release_version}")
    expect(card).to_contain_text(f"{failed.sha[:7]} · deploy #{failed.number}")

    # One click from the banner to the confirmation, which names where the app goes.
    page.goto(failed.get_absolute_url())
    page.locator("#end-state").get_by_role("link", name=f"Roll back to #{good.number}").click()
    page.get_by_role("button", name=f"Roll back {APP}").click()
    expect(page.locator("#deploy-state")).to_have_text("Succeeded", timeout=60000)
    expect(page.locator("#deploy-commit")).to_contain_text(good.sha[:7])
    rollback = Deploy.objects.get(project=staging.project, trigger="rollback")
    until_shown(page, staging.project.get_absolute_url(), card, f"{good.sha[:7]}")
    expect(card).to_contain_text(f"v{rollback.release_version}")
    assert page.console_errors == []
