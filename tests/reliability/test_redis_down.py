"""Deploys a person asks for (the Deploy button, Retry, the API) while Redis is unreachable:
refused with a message saying so, nothing created, the form kept as it was filled in; the same
request deploys once Redis is back. (Webhooks: test_webhooks_under_stress.py.)"""

import pytest
from django.urls import reverse

from deploys.models import Deploy, State
from deploys.services import QUEUE_DOWN
from deploys.trigger_models import ApiToken
from projects.models import Environment
from tests.deploys.factories import make_deploy

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def production(credential, project):
    return Environment.objects.create(
        project=project, name="production", branch="main", app_name="foo-bar-123"
    )


def test_the_deploy_button_says_redis_is_down_and_keeps_the_form(
    client_for, alice, production, private_redis_url
):
    client = client_for(alice)
    url = reverse("deploy_new", args=[production.project.slug])
    form = {"environment": production.pk, "ref": "release-2"}
    response = client.post(url, form)
    assert response.status_code == 200
    page = response.content.decode()
    assert QUEUE_DOWN in page
    assert 'value="release-2"' in page
    assert not Deploy.objects.exists()
    private_redis_url()  # Redis is back
    assert client.post(url, form).status_code == 302
    assert Deploy.objects.get().branch == "release-2"


def test_retry_says_redis_is_down_and_starts_nothing(
    client_for, alice, production, private_redis_url
):
    failed = make_deploy(production.project, production, state=State.FAILED)
    client = client_for(alice)
    url = reverse("deploy_retry", args=[production.project.slug, failed.number])
    page = client.post(url, follow=True).content.decode()
    assert QUEUE_DOWN in page
    assert Deploy.objects.count() == 1


def test_the_api_answers_503_while_redis_is_down(client, alice, production, private_redis_url):
    token = ApiToken.issue(alice, "ci")[1]
    url = f"/api/v1/projects/{production.project.slug}/deploys/"
    headers = {"Authorization": f"Bearer {token}"}
    body = {"environment": "production", "branch": "main"}
    response = client.post(url, body, content_type="application/json", headers=headers)
    assert response.status_code == 503
    assert response.json()["error"] == QUEUE_DOWN
    assert not Deploy.objects.exists()
    private_redis_url()
    response = client.post(url, body, content_type="application/json", headers=headers)
    assert response.status_code == 202


def test_notifications_of_a_deploy_ended_while_redis_was_away_are_sent_once_it_is_back(
    production, private_redis_url
):
    import django_rq
    from django.utils import timezone

    from deploys import notifications
    from deploys.trigger_models import NotificationTarget

    NotificationTarget.objects.create(environment=production, kind="email", address="ops@x.org")
    deploy = make_deploy(production.project, production, state=State.FAILED)
    Deploy.objects.filter(pk=deploy.pk).update(notify_pending=True, finished_at=timezone.now())
    with pytest.raises(Exception):  # noqa: B017 - whatever redis-py raises: the deploy ended anyway
        notifications.deploy_finished(deploy)
    assert Deploy.objects.get(pk=deploy.pk).notify_pending
    private_redis_url()  # Redis is back; the workers' maintenance runs
    assert notifications.send_pending(min_age=0) == [deploy]
    jobs = django_rq.get_queue("default").get_jobs()
    assert [(job.func_name, job.args[1:]) for job in jobs] == [
        ("deploys.notifications.deliver", (deploy.pk, "failed"))
    ]
    assert notifications.send_pending(min_age=0) == []  # queued once
    assert not Deploy.objects.get(pk=deploy.pk).notify_pending
