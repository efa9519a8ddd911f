"""Webhooks when Redis is down, and many deliveries at once.

Redis down: herokucd answers 503 with a clear message and keeps nothing of the delivery (no
deploy, no recorded event), so the CI's redelivery of the same delivery id deploys once Redis is
back. Nothing is lost, and nothing sits queued without a job.
"""

import json

import django_rq
import pytest

from deploys import jobs
from deploys.models import Deploy, State
from deploys.services import request_deploy
from deploys.trigger_models import WebhookEvent
from tests.concurrency import post_all_at_once
from tests.triggers.conftest import SECRET, sign
from tests.triggers.payloads import github_workflow_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def production(credential, project, git_repo):
    from projects.models import Environment

    return Environment.objects.create(
        project=project, name="production", branch="main", app_name="foo-bar-123"
    )


def test_a_webhook_while_redis_is_down_gets_503_keeps_nothing_and_deploys_on_redelivery(
    production, endpoint, client, private_redis_url
):
    client.raise_request_exception = False
    sha = "a" * 40
    response = deliver_once(client, endpoint, sha, delivery="d-redis")
    assert response.status_code == 503
    assert response.json()["error"] == (
        "herokucd cannot queue deploys right now (Redis is unreachable); nothing was recorded, "
        "try again or redeliver."
    )
    assert not Deploy.objects.exists()
    assert not WebhookEvent.objects.exists()
    private_redis_url()
    again = deliver_once(client, endpoint, sha, delivery="d-redis")
    assert again.status_code == 202, again.content
    deploy = Deploy.objects.get()
    assert deploy.state == State.QUEUED
    assert deploy.pk in [job.args[0] for job in django_rq.get_queue("default").get_jobs()]


def test_a_deploy_committed_while_redis_fails_stays_queued_and_is_queued_again_later(
    production, private_redis_url
):
    # Redis answered the check, then failed before the commit: the enqueue fails, is logged.
    deploy = request_deploy(production, sha="c" * 40, check_queue=False)
    assert Deploy.objects.get(pk=deploy.pk).state == State.QUEUED
    private_redis_url()
    assert jobs.requeue_orphans(min_age=0) == [deploy]
    assert jobs.deploys_with_a_job() == {deploy.pk}
    assert jobs.requeue_orphans(min_age=0) == []  # it has its job now: not queued twice


def test_a_green_build_for_no_environment_is_recorded_even_while_redis_is_down(
    production, endpoint, client, private_redis_url
):
    body = json.dumps(github_workflow_run(branch="feature-x", sha="d" * 40)).encode()
    response = client.post(
        endpoint.get_absolute_url(),
        data=body,
        content_type="application/json",
        headers=github_headers(body, "d-feature"),
    )
    assert response.status_code == 202
    assert WebhookEvent.objects.get().reason == "No environment deploys branch feature-x."


def deliver_once(client, endpoint, sha, delivery):
    body, headers = github_delivery(sha, delivery)
    return client.post(
        endpoint.get_absolute_url(), data=body, content_type="application/json", headers=headers
    )


def github_delivery(sha, delivery):
    body = json.dumps(github_workflow_run(branch="main", sha=sha)).encode()
    return body, github_headers(body, delivery)


def github_headers(body, delivery):
    return {
        "X-GitHub-Event": "workflow_run",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": f"sha256={sign(SECRET, body)}",
        "Content-Type": "application/json",
    }


def test_20_deliveries_for_one_app_at_once_make_numbered_deploys_and_never_two_running(
    production, endpoint, live_server, queue, git_repo
):
    shas = [git_repo.commit(f"f{n}.txt", f"{n}\n", f"Commit {n}") for n in range(20)]
    url = live_server.url + endpoint.get_absolute_url()
    responses = post_all_at_once(
        url, [github_delivery(sha, f"d-{n}") for n, sha in enumerate(shas)]
    )
    assert [r.status_code for r in responses] == [202] * 20, [r.text for r in responses]
    deploys = list(Deploy.objects.order_by("number"))
    assert [d.number for d in deploys] == list(range(1, 21))
    assert sorted(d.sha for d in deploys) == sorted(shas)
    # Supersession: of 20 queued deploys of one environment, only the newest stays queued.
    assert [d.state for d in deploys].count(State.QUEUED) == 1
    assert deploys[-1].state == State.QUEUED
    assert Deploy.objects.filter(state=State.RUNNING).count() <= 1
    assert WebhookEvent.objects.count() == 20


def test_the_same_delivery_10_times_at_once_makes_one_deploy(
    production, endpoint, live_server, queue
):
    url = live_server.url + endpoint.get_absolute_url()
    delivery = github_delivery("b" * 40, "d-same")
    responses = post_all_at_once(url, [delivery] * 10)
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 9 + [202], [r.text for r in responses]
    assert Deploy.objects.count() == 1
    assert WebhookEvent.objects.count() == 1
    assert len(queue.get_jobs()) == 1
