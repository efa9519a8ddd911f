"""A dry run of a deploy (deploys/plan.py): the same steps in the same order as the deploy that
follows, nothing changed on Heroku, no git request, and problems found before anything runs."""

import shutil
import subprocess

import pytest
from django.urls import reverse

from deploys import mirror, plan
from deploys.models import Deploy, State
from deploys.trigger_models import ApiToken, GitRequest, Outcome, WebhookEndpoint, WebhookEvent
from projects.models import CacheFlush, Environment, EnvironmentLock, Role
from tests.conftest import store_heroku_key
from tests.deploys import test_pipeline
from tests.deploys.conftest import sim_env
from tests.deploys.test_pipeline import configure, deploy_now, ran_steps
from tests.heroku_sim.fixtures import APP, default_state

pytestmark = pytest.mark.django_db(transaction=True)
# The pipeline tests' fixtures: the repository with a migration, the careful environment around
# it, a health check server.
repo, careful, health = test_pipeline.repo, test_pipeline.careful, test_pipeline.health
CHANGES = {"POST", "PATCH", "PUT", "DELETE", "PUSH", "RELEASE", "PROMOTE"}


def fetch_mirror(project):
    """What a deploy's fetch does to the mirror, so it knows the repository's newest commits."""
    subprocess.run(
        ["git", "fetch", "-q", "origin", "+refs/heads/*:refs/heads/*"],
        cwd=mirror.mirror_path(project),
        check=True,
        capture_output=True,
    )


def changes(sim):
    return [e for e in sim.state()["events"] if e["method"] in CHANGES]


def test_a_plan_lists_the_steps_the_deploy_then_runs_in_order(careful, repo, health, sim, alice):
    repo.commit("release.sh", "echo released", "Add the release command")
    repo.commit("Procfile", "web: gunicorn app.wsgi\nrelease: bash release.sh\n", "Procfile")
    configure(careful, health_check_url=health.url, migration_timeout=45)
    planned = plan.make(careful, user=alice)
    assert planned.problems == [], planned.problems
    deploy = deploy_now(careful)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert planned.step_names == [step.name for step in deploy.steps.all()]
    assert planned.step_names == ran_steps(deploy)  # every step ran, none was skipped
    started = deploy.steps.order_by("started_at", "position").values_list("name", flat=True)
    assert planned.step_names == list(started)
    assert [s.title for s in planned.steps] == [step.title for step in deploy.steps.all()]
    settings = {s.name: dict(s.settings) for s in planned.steps}
    assert settings["migrate"] == {"Command": "bash migrate.sh", "Timeout": "45 s"}
    # The quantities read from Heroku's formation, before the deploy scaled them down.
    assert settings["scale_down"]["worker"] == "2 now, 0 during the migration"
    assert "no such process type" in settings["scale_down"]["clock"]
    assert settings["maintenance_on"]["Scope"] == "every deploy"


def test_a_plan_changes_nothing_on_heroku_and_spends_no_git_budget(careful, repo, sim, alice):
    first = deploy_now(careful)
    assert first.state == State.SUCCEEDED, first.reason
    repo.commit("a.txt", "a", "Add a")
    newest = repo.commit("b.txt", "b", "Add b")
    fetch_mirror(careful.project)
    app_before, changes_before = sim.app_state(), changes(sim)
    git_before = list(GitRequest.objects.values_list("pk", "requests"))
    deploys_before = Deploy.objects.count()

    planned = plan.make(careful, user=alice)

    assert sim.app_state() == app_before
    assert changes(sim) == changes_before  # no POST, PATCH, DELETE, push or release
    assert list(GitRequest.objects.values_list("pk", "requests")) == git_before
    assert Deploy.objects.count() == deploys_before
    assert planned.sha == newest
    assert [c.subject for c in planned.commits] == ["Add b", "Add a"]
    assert planned.commit_count == 2
    assert planned.budget.used == 2  # the first deploy's push
    assert planned.remaining_after == planned.budget.limit - 4


def test_a_plan_says_what_holds_the_deploy(environment, sim, alice):
    EnvironmentLock.objects.create(
        environment=environment, reason="release freeze", locked_by=alice
    )
    planned = plan.make(environment, user=alice)
    assert not planned.decision.may_start_now
    assert "locked by" in planned.decision.why_not and "release freeze" in planned.decision.why_not


def test_a_key_heroku_refuses_is_a_problem_and_the_steps_still_show(environment, sim, alice):
    credential = environment.project.heroku_credential
    credential.api_key = "HRKU-00000000-0000-0000-0000-000000000000"
    credential.save()
    before = sim.app_state()
    planned = plan.make(environment, user=alice)
    assert planned.step_names == ["checkout", "push", "release_phase"]
    assert any("Heroku refused" in p and APP in p for p in planned.problems), planned.problems
    assert sim.app_state() == before
    assert Deploy.objects.count() == 0


def test_an_app_of_another_account_is_unreachable_with_this_key(environment, sim, alice):
    configure(environment, app_name="not-yours-app")
    planned = plan.make(environment, user=alice)
    assert any("not-yours-app" in p for p in planned.problems), planned.problems


def test_a_cache_flush_without_its_config_var_is_a_problem(environment, sim, alice):
    configure(
        environment, cache_flush=CacheFlush.MEMCACHIER, cache_config_vars="MEMCACHIER_SERVERS"
    )
    planned = plan.make(environment, user=alice)
    flush = next(s for s in planned.steps if s.name == "cache_flush")
    assert dict(flush.settings)["Config vars"] == (
        "MEMCACHIER_SERVERS, MEMCACHIER_USERNAME, MEMCACHIER_PASSWORD"
    )
    [problem] = [p for p in planned.problems if "cache flush" in p]
    assert "MEMCACHIER_SERVERS, MEMCACHIER_USERNAME, MEMCACHIER_PASSWORD" in problem


def test_a_backup_without_heroku_postgres_is_a_problem(
    heroku_sim_factory, settings, project, alice
):
    state = default_state()
    state["apps"][0]["addons"] = []
    bare = heroku_sim_factory(state)
    for name, value in sim_env(bare).items():
        setattr(settings, name, value)
    store_heroku_key(project, bare.api_key, alice)
    environment = Environment.objects.create(
        project=project,
        name="production",
        branch="main",
        app_name=APP,
        migration_command="python manage.py migrate",
        backup_before_migrate=True,
    )
    before = bare.app_state()
    planned = plan.make(environment, user=alice)
    assert "backup" in planned.step_names
    assert any("no Heroku Postgres add-on" in p for p in planned.problems), planned.problems
    assert bare.app_state() == before


def test_a_health_check_url_shows_masked(environment, sim, alice):
    configure(environment, health_check_url="https://monitor:s3cret-pass@example.com/up")
    environment.refresh_from_db()
    planned = plan.make(environment, user=alice)
    health_step = next(s for s in planned.steps if s.name == "health_check")
    assert "s3cret-pass" not in str(health_step.settings)
    assert dict(health_step.settings)["URL"].startswith("https://monitor:")


# -- pages and API ------------------------------------------------------------------------------


def test_the_plan_page_shows_steps_and_creates_no_deploy(environment, sim, client_for, alice):
    response = client_for(alice).post(
        reverse("deploy_plan", args=["foo-bar"]), {"environment": environment.pk, "ref": "main"}
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "Plan: a dry run" in text and "Push the commit to the app" in text
    assert Deploy.objects.count() == 0


@pytest.mark.parametrize(("role", "status"), [(Role.VIEWER, 403), (None, 404)])
def test_a_viewer_or_outsider_gets_no_plan(environment, sim, client_for, bob, bob_as, role, status):
    if role:
        bob_as(role)
    url = reverse("deploy_plan", args=["foo-bar"]) + f"?environment={environment.pk}&ref=main"
    assert client_for(bob).get(url).status_code == status


def test_a_webhook_delivery_replays_as_a_plan(environment, repo, sim, client_for, alice):
    endpoint = WebhookEndpoint.objects.create(project=environment.project, secret="x" * 32)
    event = WebhookEvent.objects.create(
        endpoint=endpoint,
        provider="github",
        branch="main",
        sha=repo.head(),
        outcome=Outcome.DEPLOYED,
        environment=environment,
    )
    response = client_for(alice).get(reverse("delivery_plan", args=["foo-bar", event.pk]))
    assert response.status_code == 200
    assert f'id="plan-{environment.pk}"' in response.content.decode()
    assert Deploy.objects.count() == 0
    triggers = client_for(alice).get(reverse("triggers", args=["foo-bar"])).content.decode()
    assert reverse("delivery_plan", args=["foo-bar", event.pk]) in triggers


def api(client, user, body, plan_flag="1"):
    token = ApiToken.issue(user, "tests")[1]
    url = reverse("api_deploys", args=["foo-bar"]) + f"?plan={plan_flag}"
    return client.post(
        url, body, content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )


def test_the_api_plans_without_deploying(environment, sim, client, alice):
    response = api(client, alice, {"environment": "production", "branch": "main"})
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["plan"] is True
    assert [s["name"] for s in data["steps"]] == list(plan.pipeline.planned_steps(environment))
    assert data["git_rate_limit"]["spent"] == 2
    assert data["may_start_now"] is True and data["problems"] == []
    assert Deploy.objects.count() == 0


@pytest.mark.parametrize(("role", "status"), [(Role.VIEWER, 403), (None, 404)])
def test_the_api_plan_needs_the_deployer_role(environment, sim, client, bob, bob_as, role, status):
    if role:
        bob_as(role)
    response = api(client, bob, {"environment": "production", "branch": "main"})
    assert response.status_code == status
    assert Deploy.objects.count() == 0


def test_the_confirmation_plans_exactly_the_commit_it_names(
    environment, repo, sim, client_for, alice
):
    """The confirmation page's Plan button sends the commit it showed: a branch that moved on
    since is not what the plan describes."""
    configure(environment, confirm_manual_deploys=True)
    shown = repo.head()
    clone_mirror(environment.project)
    client = client_for(alice)
    confirm = client.post(
        reverse("deploy_new", args=["foo-bar"]),
        {"environment": environment.pk, "ref": "main"},
    ).content.decode()
    assert 'formaction="/projects/foo-bar/deploy/plan/"' in confirm
    assert f'name="confirmed" value="{shown}"' in confirm
    repo.commit("later.txt", "later", "Pushed after the confirmation")
    fetch_mirror(environment.project)
    response = client.post(
        reverse("deploy_plan", args=["foo-bar"]),
        {"environment": environment.pk, "ref": "main", "confirmed": shown},
    )
    assert f'<code class="plan-sha">{shown[:7]}</code>' in response.content.decode()


def test_a_delivery_without_an_environment_plans_every_one_its_branch_deploys_to(
    environment, repo, sim, client_for, alice
):
    staging = Environment.objects.create(
        project=environment.project, name="staging", branch="main, develop", app_name=APP
    )
    qa = Environment.objects.create(
        project=environment.project, name="qa", branch="qa", app_name="not-yours-app"
    )
    endpoint = WebhookEndpoint.objects.create(project=environment.project, secret="x" * 32)
    event = WebhookEvent.objects.create(
        endpoint=endpoint, provider="generic", branch="main", sha="", outcome=Outcome.IGNORED
    )
    page = client_for(alice).get(reverse("delivery_plan", args=["foo-bar", event.pk]))
    text = page.content.decode()
    assert f'id="plan-{environment.pk}"' in text and f'id="plan-{staging.pk}"' in text
    assert f'id="plan-{qa.pk}"' not in text
    assert text.count('class="plan"') == 2


def test_a_used_up_git_budget_is_a_problem(environment, sim, alice):
    credential = environment.project.heroku_credential
    GitRequest.objects.create(key_hash=credential.key_hash, app_name=APP, requests=75)
    planned = plan.make(environment, user=alice)
    assert planned.remaining_after == 0
    assert any("rate limit is used up" in p for p in planned.problems), planned.problems


def clone_mirror(project):
    """The project's mirror, cloned afresh as a first deploy clones it."""
    path = mirror.mirror_path(project)
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["git", "clone", "--mirror", "-q", project.repository_url, str(path)],
        check=True,
        capture_output=True,
    )


def test_a_plan_says_an_approval_would_hold_it_and_the_api_answers_it(
    environment, sim, client, alice
):
    configure(environment, required_approvals=1)
    response = api(client, alice, {"environment": "production", "branch": "main"})
    assert response.status_code == 200
    data = response.json()
    assert data["may_start_now"] is False and data["approvals"] == 1
    assert data["held"] == "Waits for 1 approval before it starts."
    assert Deploy.objects.count() == 0


def test_a_plan_of_an_older_commit_says_it_goes_back_in_history(environment, repo, sim, alice):
    deployed = deploy_now(environment)
    assert deployed.state == State.SUCCEEDED, deployed.reason
    older = repo.git("rev-parse", "main~1").strip()
    planned = plan.make(environment, sha=older, user=alice)
    assert planned.sha == older and planned.commits == []
    assert any("older than the live commit" in note for note in planned.notes), planned.notes
