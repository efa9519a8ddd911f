"""The Deploy form in Chromium: switching environment changes the suggested branch and the
recent commits shown, picking a commit fills the field, and a deploy to production goes through
its confirmation page to a deploy of exactly the commit it named."""

import shutil
import subprocess

import pytest
from playwright.sync_api import expect

from deploys import mirror
from deploys.models import Deploy
from tests.browser.test_wizard_browser import sign_in
from tests.deploys.factories import make_environment

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def repository(project, git_repo):
    """main with a few commits, develop one commit ahead; the project's mirror cloned."""
    for n in range(3):
        git_repo.commit(f"f{n}", str(n), f"Shop change {n}")
    git_repo.git("checkout", "-q", "-b", "develop")
    git_repo.commit("d", "d", "Work in progress on develop")
    path = mirror.mirror_path(project)
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "--mirror", "-q", str(git_repo.path), str(path)], check=True)
    yield git_repo
    shutil.rmtree(path, ignore_errors=True)


def test_the_deploy_form_follows_the_environment_and_production_asks_first(
    browser_page, shoot, project, alice, repository, settings
):
    if settings.EMBEDDED_REDIS:  # the deploy is queued: Redis must answer
        from herokucd.embedded_redis import ensure_running

        ensure_running(settings.DATA_DIR)
    make_environment(project, "staging", branch="develop", app_name="acme-staging")
    make_environment(project, "production", branch="main", app_name="acme-prod")
    production = project.environments.get(name="production")
    production.confirm_manual_deploys = True
    production.save()
    picked = repository.git("rev-parse", "main~1")
    page = browser_page
    sign_in(page, "alice")
    page.goto(f"/projects/{project.slug}/deploy/")

    ref = page.get_by_label("Branch or commit")
    expect(ref).to_have_value("develop")
    shown = page.locator(".commit-list:visible")
    expect(shown).to_have_count(1)
    expect(shown).to_contain_text("commits of develop")
    expect(shown).to_contain_text("Work in progress on develop")
    page.get_by_label("Environment").select_option(label="production (acme-prod)")
    expect(ref).to_have_value("main")
    expect(shown).to_have_count(1)
    expect(shown).to_contain_text("commits of main")
    expect(shown).not_to_contain_text("Work in progress on develop")
    shown.get_by_text("Shop change 1").click()
    expect(ref).to_have_value(picked)
    shoot(
        page,
        "form",
        text=["commits of main", "Shop change 1"],
        boxes=["h1", ".commit-list:not([hidden])", ".primary"],
    )

    page.get_by_role("button", name="Start deploy").click()
    button = page.get_by_role("button", name=f"Deploy {picked[:7]} to acme-prod")
    expect(button).to_be_visible()
    expect(page.get_by_text("Not known: no deploy to production has succeeded")).to_be_visible()
    assert not Deploy.objects.exists()
    shoot(
        page,
        "confirm",
        text=[
            "Not known: no deploy to production has succeeded",
            f"Deploy {picked[:7]} to acme-prod",
        ],
        boxes=["h1", ".primary"],
    )
    button.click()
    expect(page.get_by_role("heading", name="Deploy #1 to production")).to_be_visible()
    deploy = Deploy.objects.get()
    assert (deploy.sha, deploy.app_name) == (picked, "acme-prod")
    assert page.console_errors == []
