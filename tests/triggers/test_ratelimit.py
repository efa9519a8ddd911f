"""Heroku's git rate limit: the ledger defers a push that would go over it, a 429 backs off."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from deploys import jobs, ratelimit
from deploys.logformat import read_lines
from deploys.models import State
from deploys.services import request_deploy
from deploys.trigger_models import GitRequest
from tests.heroku_sim.fixtures import APP, default_state
from tests.triggers.conftest import point_at


def push_record(credential, minutes_ago, requests=2, app=APP):
    return GitRequest.objects.create(
        key_hash=credential.key_hash,
        app_name=app,
        requests=requests,
        made_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


def a_deploy(environment):
    return request_deploy(environment, branch="main")


@pytest.mark.django_db
def test_a_push_that_fits_in_the_hour_goes_ahead(environment, credential):
    for minutes in range(36):  # 72 of 75 requests used
        push_record(credential, minutes)
    assert ratelimit.before_push(a_deploy(environment), credential) is None


@pytest.mark.django_db
def test_a_push_that_would_go_over_75_waits_until_the_oldest_requests_leave_the_hour(
    environment, credential
):
    oldest = push_record(credential, 50)
    for minutes in range(1, 37):  # 74 requests in all
        push_record(credential, minutes)
    with pytest.raises(ratelimit.DeferDeploy) as deferred:
        ratelimit.before_push(a_deploy(environment), credential)
    assert deferred.value.until == oldest.made_at + timedelta(hours=1)


@pytest.mark.django_db
def test_requests_older_than_an_hour_do_not_count(environment, credential):
    for minutes in range(61, 61 + 40):
        push_record(credential, minutes)
    found = ratelimit.budget(credential.key_hash, APP)
    assert (found.used, found.remaining) == (0, 75)
    assert ratelimit.before_push(a_deploy(environment), credential) is None


@pytest.mark.django_db
def test_projects_sharing_a_key_share_its_ledger_per_app(environment, credential):
    for minutes in range(38):
        push_record(credential, minutes)  # pushes of another project with the same key
    assert ratelimit.budget(credential.key_hash, APP).remaining == 0
    assert ratelimit.budget(credential.key_hash, "another-app").remaining == 75
    assert ratelimit.budget("another-key-hash", APP).remaining == 75


@pytest.mark.django_db
def test_a_429_from_heroku_defers_with_growing_backoff(environment, credential, settings):
    settings.HEROKU_GIT_BACKOFF = 60
    deploy = a_deploy(environment)
    error = (
        "Heroku rejected the push: RPC failed; HTTP 429 curl 22 "
        "The requested URL returned error: 429"
    )
    waits = []
    for _ in range(3):
        started = timezone.now()
        with pytest.raises(ratelimit.DeferDeploy) as deferred:
            ratelimit.after_push(deploy, credential, error=error)
        waits.append(round((deferred.value.until - started).total_seconds() / 60))
    assert waits == [1, 2, 4]
    with pytest.raises(ratelimit.DeferDeploy):  # other deploys of the app wait too
        ratelimit.before_push(a_deploy(environment), credential)


@pytest.mark.django_db
def test_a_push_refused_for_another_reason_is_only_recorded(environment, credential):
    ratelimit.after_push(
        a_deploy(environment),
        credential,
        error="Heroku rejected the push: Your account has reached its concurrent builds limit",
    )
    assert ratelimit.budget(credential.key_hash, APP).used == 2


@pytest.fixture
def small_limit_sim(heroku_sim_factory, settings):
    """A simulator whose git limit is 2 requests (one push) per 3 seconds."""
    state = default_state()
    state["git_rate_limit"] = {"requests": 2, "window_seconds": 3}
    return point_at(heroku_sim_factory(state), settings)


def run_now(deploy):
    jobs.run_deploy(deploy.pk)
    deploy.refresh_from_db()
    return deploy


def log_text(deploy):
    return "\n".join(line.text for line in read_lines(deploy, limit=10_000))


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_deploy_over_the_git_limit_waits_then_runs(
    small_limit_sim, project, alice, settings, queue, git_repo
):
    settings.HEROKU_GIT_RATE_LIMIT, settings.HEROKU_GIT_RATE_WINDOW = 2, 3
    environment = _environment_on(small_limit_sim, project, alice)
    first = run_now(request_deploy(environment, branch="main"))
    assert first.state == State.SUCCEEDED, first.reason
    git_repo.commit("second.txt", "two", "A second change")
    second = run_now(request_deploy(environment, branch="main"))
    assert second.state == State.QUEUED
    assert "Waiting for Heroku's git rate limit until" in log_text(second)
    free = ratelimit.budget(_key(project), APP).next_free
    assert _scheduled_near(queue, free)  # started again when the budget returns
    time.sleep(max((free - timezone.now()).total_seconds(), 0) + 0.1)
    assert run_now(second).state == State.SUCCEEDED, second.reason
    assert len(small_limit_sim.app_state()["pushes"]) == 2


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_429_from_heroku_makes_the_deploy_wait_then_run(
    small_limit_sim, project, alice, settings, queue, git_repo
):
    settings.HEROKU_GIT_BACKOFF = 3
    environment = _environment_on(small_limit_sim, project, alice)
    assert run_now(request_deploy(environment, branch="main")).state == State.SUCCEEDED
    git_repo.commit("second.txt", "two", "A second change")
    second = run_now(request_deploy(environment, branch="main"))
    assert second.state == State.QUEUED, second.reason
    assert "Waiting for Heroku's git rate limit until" in log_text(second)
    time.sleep(3.2)
    assert run_now(second).state == State.SUCCEEDED, second.reason
    assert len(small_limit_sim.app_state()["pushes"]) == 2


def _scheduled_near(queue, moment):
    registry = queue.scheduled_job_registry
    times = [registry.get_scheduled_time(job_id) for job_id in registry.get_job_ids()]
    return any(abs((at - moment).total_seconds()) < 1 for at in times)


def _key(project):
    return project.heroku_credential.key_hash


def _environment_on(sim, project, alice):
    from herokucd.crypto import keyed_hash
    from projects.models import Environment, HerokuCredential

    HerokuCredential.objects.create(
        project=project,
        api_key=sim.api_key,
        key_hash=keyed_hash(sim.api_key),
        account_email="deployer@example.com",
        account_id="account-1",
        validated_at=timezone.now(),
        set_by=alice,
    )
    return Environment.objects.create(
        project=project, name="production", branch="main", app_name=APP
    )


def test_the_workers_maintenance_forgets_requests_older_than_two_hours(environment, credential):
    push_record(credential, minutes_ago=121)
    push_record(credential, minutes_ago=119)
    assert ratelimit.forget_old() == 1
    assert [
        round((timezone.now() - r.made_at).total_seconds() / 60) for r in GitRequest.objects.all()
    ] == [119]
