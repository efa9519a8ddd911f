"""Promotion through a Heroku pipeline, against the simulator: staging's release goes to
production as it is (no build, no git push), wrapped in production's own steps."""

import pytest
from django.urls import reverse

from deploys import jobs
from deploys.models import Deploy, State, StepState, Trigger
from deploys.promotion import PromotionRefused, plan, request_promotion
from deploys.trigger_models import GitRequest
from projects.models import Environment, MaintenanceMode
from tests.deploys.conftest import sim_env
from tests.deploys.test_pipeline import (
    MIGRATE_SH,
    HealthHandler,
    HealthServer,
    app_formation,
    configure,
    deploy_now,
    log_text,
    ran_steps,
)
from tests.heroku_sim.fixtures import APP, default_state, start_heroku_sim

pytestmark = pytest.mark.django_db(transaction=True)
STAGING = "shop-staging"
LONE = "lone-app"


def pipeline_state():
    state = default_state()
    owner = "deployer@example.com"
    state["apps"] += [
        {"name": STAGING, "owner": owner, "formation": {"web": 1}},
        {"name": LONE, "owner": owner, "formation": {"web": 1}},
    ]
    state["pipelines"] = [{"name": "shop", "couplings": {STAGING: "staging", APP: "production"}}]
    state["promotion_seconds"] = 0.2
    return state


@pytest.fixture(scope="module")
def pipeline_sim():
    with start_heroku_sim(pipeline_state()) as sim:
        yield sim


@pytest.fixture
def sim(pipeline_sim, settings):
    pipeline_sim.reset()
    for name, value in sim_env(pipeline_sim).items():
        setattr(settings, name, value)
    settings.DEPLOY_BACKUP_POLL_SECONDS = 0.1
    settings.DEPLOY_PROMOTION_POLL_SECONDS = 0.05
    return pipeline_sim


@pytest.fixture
def staging(project, credential, redis_up, git_repo):
    git_repo.commit("migrate.sh", MIGRATE_SH, "Add the migration")
    return Environment.objects.create(
        project=project, name="staging", branch="main", app_name=STAGING, position=0
    )


@pytest.fixture
def production(environment):
    return configure(environment, position=1)


@pytest.fixture
def deployed(staging, production, alice):
    deploy = deploy_now(staging, user=alice)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    return deploy


@pytest.fixture
def health():
    import threading

    server = HealthServer(("127.0.0.1", 0), HealthHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/health"
    yield server
    server.shutdown()


def run(deploy):
    jobs.run_deploy(deploy.pk)
    deploy.refresh_from_db()
    return deploy


def test_a_promotion_releases_stagings_build_on_production_with_productions_steps(
    deployed, production, sim, alice
):
    configure(
        production,
        maintenance_mode=MaintenanceMode.DEPLOY,
        scale_down_types="worker",
        migration_command="bash migrate.sh",
        migration_timeout=30,
    )
    staging_release = sim.app_state(STAGING)["releases"][-1]
    promotion = run(request_promotion(deployed, alice))
    assert promotion.state == State.SUCCEEDED, promotion.reason
    assert (promotion.trigger, promotion.promoted_from) == (Trigger.PROMOTION, deployed)
    assert promotion.sha == deployed.sha and promotion.environment == production
    assert promotion.promotion_source_version == deployed.release_version
    assert ran_steps(promotion) == [
        "maintenance_on",
        "scale_down",
        "promote",
        "migrate",
        "scale_back",
        "maintenance_off",
    ]
    title = promotion.steps.get(name="promote").title
    assert title == f"Promote release v{deployed.release_version} of {STAGING} (Heroku pipeline)"
    app = sim.app_state(APP)
    live = app["releases"][-1]
    assert (live["slug_id"], live["commit"]) == (staging_release["slug_id"], deployed.sha)
    assert live["description"] == f"Promote {STAGING} v{staging_release['version']}"
    assert promotion.release_version == live["version"]
    assert app["pushes"] == []  # no build, no git push
    assert not GitRequest.objects.filter(app_name=APP).exists()  # not in the git ledger
    assert app["maintenance"] is False and app_formation_of(app)["worker"] == 2
    assert "Applying migration 0042" in log_text(promotion)


def app_formation_of(app):
    return {kind: item["quantity"] for kind, item in app["formation"].items()}


def test_a_failed_promotion_target_fails_the_deploy_in_herokus_words_and_cleans_up(
    deployed, production, sim, alice
):
    configure(
        production,
        maintenance_mode=MaintenanceMode.DEPLOY,
        scale_down_types="worker",
        migration_command="bash migrate.sh",
    )
    sim.fault(f"PROMOTE {APP}", message="Release command failed to start.", count=1)
    before = sim.app_state(APP)["releases"][-1]
    promotion = run(request_promotion(deployed, alice))
    assert promotion.state == State.FAILED
    assert (
        promotion.reason == f"Heroku could not promote to {APP}: Release command failed to start."
    )
    assert promotion.steps.get(name="promote").state == StepState.FAILED
    assert promotion.steps.get(name="migrate").state == StepState.SKIPPED
    assert sim.app_state(APP)["releases"][-1]["id"] == before["id"]
    assert sim.app_state(APP)["maintenance"] is False
    assert app_formation(sim)["worker"] == 2
    assert promotion.end_state["release"]["whose"] == "before"


def test_a_promotion_heroku_refuses_fails_before_the_release_and_cleans_up(
    deployed, production, sim, alice
):
    configure(production, maintenance_mode=MaintenanceMode.DEPLOY)
    sim.fault("POST /pipeline-promotions", status=422, message="Promotion is not allowed.")
    promotion = run(request_promotion(deployed, alice))
    assert promotion.state == State.FAILED
    assert promotion.reason == (
        f"Heroku refused to promote release v{deployed.release_version} of {STAGING} to {APP}: "
        "Promotion is not allowed."
    )
    assert promotion.steps.get(name="promote").state == StepState.FAILED
    assert sim.app_state(APP)["maintenance"] is False


def test_apps_not_coupled_in_one_pipeline_are_refused_before_anything(
    project, staging, production, alice, sim
):
    configure(staging, app_name=LONE)
    deploy = deploy_now(staging, user=alice)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    with pytest.raises(PromotionRefused) as refused:
        request_promotion(deploy, alice)
    assert str(refused.value).startswith(f"{LONE} is not in a Heroku pipeline")
    assert Deploy.objects.count() == 1


def test_the_last_stage_has_nothing_to_promote_to(deployed, production, sim, alice):
    promotion = run(request_promotion(deployed, alice))
    with pytest.raises(PromotionRefused) as refused:
        plan(promotion)
    assert str(refused.value) == (
        f"{APP} is at the production stage of the pipeline shop: there is no later stage to "
        "promote it to."
    )


def test_a_release_no_longer_on_heroku_is_refused(deployed, sim, alice):
    Deploy.objects.filter(pk=deployed.pk).update(release_version=99)
    deployed.refresh_from_db()
    with pytest.raises(PromotionRefused) as refused:
        request_promotion(deployed, alice)
    assert str(refused.value) == f"Release v99 of {STAGING} is no longer available."


def test_a_healthy_deploy_is_auto_promoted_to_the_next_environment(
    staging, production, health, sim, alice
):
    configure(staging, auto_promote=True, health_check_url=health.url)
    deploy = deploy_now(staging, user=alice)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    promotion = Deploy.objects.get(promoted_from=deploy)
    assert promotion.triggered_by is None and promotion.trigger == Trigger.PROMOTION
    assert (
        promotion.trigger_detail == f"Auto-promote after healthy deploy #{deploy.number} to staging"
    )
    assert f"Auto-promote: promotion #{promotion.number} to production" in log_text(deploy)
    promotion = run(promotion)
    assert promotion.state == State.SUCCEEDED, promotion.reason
    assert sim.app_state(APP)["current_commit"] == deploy.sha


def test_auto_promote_needs_a_health_check_and_a_healthy_deploy(
    staging, production, health, sim, alice
):
    configure(staging, auto_promote=True)
    deploy = deploy_now(staging, user=alice)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert "no health check" in log_text(deploy)
    health.status = 503
    configure(staging, health_check_url=health.url, health_check_delay=0)
    failed = deploy_now(staging, user=alice)
    assert failed.state == State.FAILED
    assert not Deploy.objects.filter(trigger=Trigger.PROMOTION).exists()


# -- the Promote page ---------------------------------------------------------------------------


def promote_url(deploy):
    return reverse("deploy_promote", args=[deploy.project.slug, deploy.number])


def test_the_promote_page_names_what_it_promotes_and_where_then_starts_it(
    deployed, production, client_for, alice, sim
):
    configure(production, migration_command="bash migrate.sh")
    client = client_for(alice)
    assert b"Promote\xe2\x80\xa6" in client.get(deployed.get_absolute_url()).content
    overview = client.get(deployed.project.get_absolute_url()).content.decode()
    assert f'class="promote-link" href="{promote_url(deployed)}"' in overview
    page = client.get(promote_url(deployed))
    text = page.content.decode()
    live = sim.app_state(APP)["releases"][-1]
    assert f'v{deployed.release_version}</span> of <span class="mono">{STAGING}' in text
    assert deployed.sha[:7] in text and f'<strong class="mono">{APP}</strong>' in text
    assert f"v{live['version']}</span>" in text  # what is live on the target now
    assert "Promote release v" in text and "Run the migration in a one-off dyno" in text
    assert "Push the commit" not in text and "Fetch the repository" not in text
    assert not Deploy.objects.filter(trigger=Trigger.PROMOTION).exists()  # nothing yet
    staging_release = sim.app_state(STAGING)["releases"][-1]
    response = client.post(
        promote_url(deployed),
        {"to": production.pk, "app": APP, "release": staging_release["id"]},
    )
    promotion = Deploy.objects.get(trigger=Trigger.PROMOTION)
    assert response["Location"] == promotion.get_absolute_url()
    assert (promotion.promoted_from, promotion.triggered_by) == (deployed, alice)
    assert promotion.steps.count() == 0  # queued: the worker runs it
    shown = client.get(promotion.get_absolute_url()).content.decode()
    assert f'promotion from <a href="{deployed.get_absolute_url()}">#{deployed.number}</a>' in shown
    history = client.get(reverse("deploy_history", args=[deployed.project.slug])).content.decode()
    assert f'from <a href="{deployed.get_absolute_url()}">#{deployed.number}</a>' in history


def test_the_promote_page_explains_apps_not_coupled_and_starts_nothing(
    staging, production, client_for, alice, sim
):
    configure(staging, app_name=LONE)
    deploy = deploy_now(staging, user=alice)
    client = client_for(alice)
    page = client.get(promote_url(deploy)).content.decode()
    assert "cannot be promoted" in page and f"{LONE} is not in a Heroku pipeline" in page
    response = client.post(promote_url(deploy), {"app": APP, "release": "x"}, follow=True)
    assert f"{LONE} is not in a Heroku pipeline" in response.content.decode()
    assert Deploy.objects.count() == 1


def test_a_page_older_than_herokus_answer_is_refused(deployed, production, client_for, alice, sim):
    response = client_for(alice).post(
        promote_url(deployed), {"app": APP, "release": "an-older-release"}, follow=True
    )
    assert "What the page showed has changed on Heroku since" in response.content.decode()
    assert not Deploy.objects.filter(trigger=Trigger.PROMOTION).exists()


def test_retrying_a_promotion_promotes_the_same_release_again(deployed, sim, alice):
    first = run(request_promotion(deployed, alice))
    assert first.state == State.SUCCEEDED, first.reason
    from deploys.services import retry_deploy

    again = run(retry_deploy(first, alice))
    assert again.state == State.SUCCEEDED, again.reason
    assert (again.trigger, again.promoted_from, again.trigger_detail) == (
        Trigger.PROMOTION,
        deployed,
        f"Retry of #{first.number}",
    )
    assert sim.app_state(APP)["pushes"] == []


@pytest.fixture
def slow_sim(sim, settings):
    """The same apps and keys, with promotions that stay pending for 30 seconds."""
    state = {**sim.seed, "promotion_seconds": 30}
    with start_heroku_sim(state) as slow:
        for name, value in sim_env(slow).items():
            setattr(settings, name, value)
        yield slow


def test_cancel_while_heroku_promotes_stops_waiting_and_cleans_up(
    slow_sim, staging, production, alice
):
    from deploys.services import cancel_deploy
    from tests.deploys.test_pipeline import run_in_thread, wait_for

    source = deploy_now(staging, user=alice)
    assert source.state == State.SUCCEEDED, source.reason
    configure(production, maintenance_mode=MaintenanceMode.DEPLOY)
    promotion = request_promotion(source, alice)
    thread = run_in_thread(promotion)
    wait_for(lambda: promotion.steps.filter(name="promote", state=StepState.RUNNING).exists())
    cancel_deploy(promotion, alice)
    thread.join(30)
    promotion.refresh_from_db()
    assert promotion.state == State.CANCELED
    assert promotion.steps.get(name="promote").state == StepState.CANCELED
    assert slow_sim.app_state(APP)["maintenance"] is False


def test_a_promoted_release_runs_its_release_phase_and_its_failure_fails_the_promotion(
    staging, production, git_repo, sim, alice
):
    from tests.deploys.test_release_phase import RELEASE_SH

    git_repo.commit("release.sh", RELEASE_SH, "Add the release tasks")
    git_repo.commit("Procfile", "web: gunicorn app.wsgi\nrelease: bash release.sh\n", "Procfile")
    deployed = deploy_now(staging, user=alice)
    assert deployed.state == State.SUCCEEDED, deployed.reason
    assert deployed.steps.get(name="release_phase").state == StepState.SUCCEEDED
    sim.api("PATCH", f"/apps/{APP}/config-vars", json={"CODE": "1"})  # production's fails
    before = next(r for r in sim.app_state(APP)["releases"] if r["current"])
    promotion = run(request_promotion(deployed, alice))
    assert promotion.state == State.FAILED
    failed = sim.app_state(APP)["releases"][-1]
    assert failed["status"] == "failed" and failed["commit"] == deployed.sha
    assert promotion.reason.startswith(
        f"The release phase failed: Heroku's release v{failed['version']} (commit "
        f"{deployed.sha[:7]}) failed (its release command failed)"
    )
    assert promotion.steps.get(name="release_phase").state == StepState.FAILED
    assert "Applying 0003... OK" in log_text(promotion)
    assert next(r for r in sim.app_state(APP)["releases"] if r["current"])["id"] == before["id"]
