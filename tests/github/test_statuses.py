"""Each deploy of a project with a GitHub token is a GitHub Deployment whose status follows the
deploy's transitions; GitHub being down never fails a deploy, the status comes later."""

import time

import pytest
from rq import SimpleWorker

from deploys import app_lock, github
from deploys.github_models import GitHubDeployment
from deploys.models import Deploy, State
from tests.deploys.factories import make_deploy
from tests.github.openapi import check_exchanges

pytestmark = pytest.mark.django_db

SHA = "3f786850e387550fdab836ed7e6dc881de23001b"
WORKER = "host:1"


@pytest.fixture
def queue(redis_up):
    import django_rq

    queue = django_rq.get_queue("default")
    queue.empty()
    yield queue
    queue.empty()


@pytest.fixture
def redis_up(settings):
    if settings.EMBEDDED_REDIS:
        from herokucd.embedded_redis import ensure_running

        ensure_running(settings.DATA_DIR)


@pytest.fixture
def site(settings):
    settings.SITE_URL = "https://cd.example.com"


@pytest.fixture
def step(django_capture_on_commit_callbacks, queue):
    """Run `action` as its transaction would commit, then the jobs it queued."""

    def run(action):
        with django_capture_on_commit_callbacks(execute=True):
            result = action()
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
        return result

    return run


def states(sim, deploy):
    record = GitHubDeployment.objects.filter(deploy=deploy).first()
    return sim.statuses(record.deployment_id) if record and record.deployment_id else []


def queued(project, environment):
    return make_deploy(project, environment, state=State.QUEUED, sha=SHA)


def test_a_deploy_moves_its_github_status_from_queued_to_success(
    github_sim, github_token, production, step, site
):
    deploy = step(lambda: queued(production.project, production))
    assert states(github_sim, deploy) == ["queued"]
    step(lambda: deploy.claim(WORKER, app_lock.same_app_waiting_before()))
    assert states(github_sim, deploy) == ["queued", "in_progress"]
    step(lambda: deploy.finish(State.SUCCEEDED, "", WORKER))
    assert states(github_sim, deploy) == ["queued", "in_progress", "success"]

    created = github_sim.deployments[0]
    assert (created["sha"], created["environment"]) == (SHA, "production")
    last = github_sim.deployments[0]["_statuses"][0]
    assert last["log_url"] == f"https://cd.example.com/projects/foo-bar/deploys/{deploy.number}/"
    assert last["environment_url"] == "https://shop-production-1234.herokuapp.com/"
    assert check_exchanges(github_sim.exchanges) == 4  # one deployment, three statuses


def test_a_failed_deploy_is_a_failure_on_github(github_sim, github_token, production, step):
    deploy = step(lambda: queued(production.project, production))
    step(lambda: deploy.claim(WORKER, app_lock.same_app_waiting_before()))
    step(lambda: deploy.finish(State.FAILED, "Heroku rejected the push", WORKER))
    assert states(github_sim, deploy) == ["queued", "in_progress", "failure"]
    assert "Heroku rejected the push" in github_sim.deployments[0]["_statuses"][0]["description"]
    check_exchanges(github_sim.exchanges)


def test_a_superseded_deploy_becomes_inactive(github_sim, github_token, production, step):
    older = step(lambda: queued(production.project, production))
    newer = step(lambda: queued(production.project, production))
    step(lambda: Deploy.objects.supersede_queued(newer))
    assert Deploy.objects.get(pk=older.pk).state == State.CANCELED
    assert states(github_sim, older) == ["queued", "inactive"]
    assert states(github_sim, newer) == ["queued"]
    check_exchanges(github_sim.exchanges)


def test_a_newer_success_makes_the_older_one_inactive(github_sim, github_token, production, step):
    deploys = []
    for _ in range(2):
        deploy = step(lambda: queued(production.project, production))
        step(lambda d=deploy: d.claim(WORKER, app_lock.same_app_waiting_before()))
        step(lambda d=deploy: d.finish(State.SUCCEEDED, "", WORKER))
        deploys.append(deploy)
    assert states(github_sim, deploys[0])[-2:] == ["success", "inactive"]
    assert states(github_sim, deploys[1])[-1] == "success"


def test_github_down_never_fails_the_deploy_and_the_status_comes_later(
    github_sim, github_token, production, step, settings
):
    settings.GITHUB_RETRY_INTERVALS = [1]
    github_sim.down = True
    deploy = step(lambda: queued(production.project, production))
    assert step(lambda: deploy.claim(WORKER, app_lock.same_app_waiting_before())) is True
    assert step(lambda: deploy.finish(State.SUCCEEDED, "", WORKER)) is True
    assert Deploy.objects.get(pk=deploy.pk).state == State.SUCCEEDED
    record = GitHubDeployment.objects.get(deploy=deploy)
    assert record.deployment_id is None and "503" in record.problem
    assert github_sim.deployments == []

    github_sim.down = False
    time.sleep(1.2)  # the retry's interval
    step(lambda: None)  # the workers run what is due, as the scheduler does
    worker = SimpleWorker([github.django_rq.get_queue("default")])
    worker.work(burst=True, with_scheduler=True)
    record.refresh_from_db()
    assert (record.state, record.problem) == ("success", "")
    assert states(github_sim, deploy) == ["success"]  # the newest state, not the history


def test_projects_without_a_token_send_nothing(github_sim, github_project, production, step):
    deploy = step(lambda: queued(production.project, production))
    step(lambda: deploy.claim(WORKER, app_lock.same_app_waiting_before()))
    assert github_sim.exchanges == []
    assert not GitHubDeployment.objects.exists()


def test_a_repository_off_github_sends_nothing(github_sim, github_token, production, step):
    project = production.project
    project.repository_url = "https://gitlab.com/octo/shop.git"
    project.save(update_fields=["repository_url"])
    step(lambda: queued(project, production))
    assert github_sim.exchanges == []
    assert github.why_off(project) == "The project's repository is not on github.com."


def test_a_status_missed_while_redis_was_away_is_sent_by_the_workers_maintenance(
    github_sim, github_token, production, step
):
    deploy = step(lambda: queued(production.project, production))
    step(lambda: deploy.claim(WORKER, app_lock.same_app_waiting_before()))
    deploy.finish(State.SUCCEEDED, "", WORKER)  # its commit never ran: no job was queued
    assert states(github_sim, deploy) == ["queued", "in_progress"]
    assert step(lambda: github.send_missed(min_age=0)) == [deploy.pk]
    assert states(github_sim, deploy) == ["queued", "in_progress", "success"]
    assert step(lambda: github.send_missed(min_age=0)) == []  # taken: nothing more to send


def test_the_maintenance_leaves_alone_a_status_whose_job_is_retrying(
    github_sim, github_token, production, step, settings
):
    settings.GITHUB_RETRY_INTERVALS = [600]
    github_sim.down = True
    deploy = step(lambda: queued(production.project, production))
    step(lambda: deploy.claim(WORKER, app_lock.same_app_waiting_before()))
    step(lambda: deploy.finish(State.FAILED, "no", WORKER))
    assert step(lambda: github.send_missed(min_age=0)) == []
