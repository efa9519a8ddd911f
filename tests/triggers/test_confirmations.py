"""Destructive actions ask first and say what will happen: without JavaScript the POST comes back
as a page asking, with a button that posts the same action confirmed."""

import html
import re

import pytest

from deploys.models import State
from deploys.trigger_models import NotificationTarget, WebhookEndpoint
from projects.models import AuditEvent, Role
from tests.deploys.factories import make_deploy, make_environment

pytestmark = pytest.mark.django_db

ROTATE = "/projects/foo-bar/triggers/webhook/rotate/"
DELETE = "/projects/foo-bar/triggers/webhook/delete/"
GITLAB = "/projects/foo-bar/triggers/webhook/gitlab-token/"
YES = {"confirmed": "yes"}


@pytest.fixture
def endpoint(project):
    endpoint = WebhookEndpoint.objects.create(project=project, secret="a" * 64)
    endpoint.new_gitlab_token()
    return endpoint


@pytest.fixture
def target(project):
    return NotificationTarget.objects.create(
        environment=make_environment(project), kind="email", address="ops@example.com"
    )


def stop_url(target):
    return f"/projects/foo-bar/notifications/{target.pk}/delete/"


def cancel_url(deploy):
    return f"/projects/foo-bar/deploys/{deploy.number}/cancel/"


def asked(response, url) -> str:
    """The confirmation page: it posts the same action again, confirmed."""
    page = html.unescape(response.content.decode())
    assert response.status_code == 200
    confirm = page.split('id="confirm"')[1]
    form = re.search(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', confirm, re.S)
    assert form[1] == url
    assert '<input type="hidden" name="confirmed" value="yes">' in form[2]
    return page


def test_stop_notifying_asks_then_removes(client_for, alice, target):
    client = client_for(alice)
    page = asked(client.post(stop_url(target)), stop_url(target))
    assert "Stop notifying ops@example.com?" in page
    assert "will no longer be told when deploys of staging fail, succeed or recover" in page
    assert "Keep notifying" in page
    assert NotificationTarget.objects.exists()
    client.post(stop_url(target), YES)
    assert not NotificationTarget.objects.exists()


def test_rotating_asks_then_rotates(client_for, alice, endpoint):
    client = client_for(alice)
    before = endpoint.secret
    page = asked(client.post(ROTATE), ROTATE)
    assert "The current one keeps working for 24 hours" in page
    assert WebhookEndpoint.objects.get().secret == before
    client.post(ROTATE, YES)
    assert WebhookEndpoint.objects.get().secret != before


def test_rotating_twice_says_the_older_secret_stops_now(client_for, alice, endpoint):
    endpoint.rotate()
    page = asked(client_for(alice).post(ROTATE), ROTATE)
    assert "The secret before it, still accepted for 23" in page
    assert "stops working now" in page


def test_replacing_the_gitlab_token_asks_creating_one_does_not(client_for, alice, endpoint):
    client = client_for(alice)
    before = WebhookEndpoint.objects.get().gitlab_token_hash
    page = asked(client.post(GITLAB), GITLAB)
    assert "Replace the GitLab token?" in page
    assert WebhookEndpoint.objects.get().gitlab_token_hash == before
    client.post(GITLAB, YES)
    assert WebhookEndpoint.objects.get().gitlab_token_hash != before


def test_deleting_the_webhook_asks_then_its_url_answers_404(client, client_for, alice, endpoint):
    signed_in = client_for(alice)
    page = asked(signed_in.post(DELETE), DELETE)
    assert "CI deliveries to its URL will be answered 404 and deploy nothing" in page
    assert WebhookEndpoint.objects.exists()
    response = signed_in.post(DELETE, YES, follow=True)
    assert "Webhook deleted" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()
    assert AuditEvent.objects.filter(action="webhook.deleted").exists()
    assert client.post(endpoint.get_absolute_url(), b"{}", "application/json").status_code == 404


def test_canceling_a_running_deploy_says_what_herokucd_undoes(client_for, alice, project):
    deploy = make_deploy(project, state=State.RUNNING)
    page = asked(client_for(alice).post(cancel_url(deploy)), cancel_url(deploy))
    assert f"Cancel deploy #{deploy.number} to staging?" in page
    assert "The current step stops, then herokucd undoes maintenance mode and scaling" in page
    deploy.refresh_from_db()
    assert deploy.state == State.RUNNING and not deploy.cancel_requested


def test_canceling_a_queued_deploy_says_nothing_changed(client_for, alice, project):
    deploy = make_deploy(project, state=State.QUEUED)
    page = asked(client_for(alice).post(cancel_url(deploy)), cancel_url(deploy))
    assert "It leaves the queue; nothing has been changed on foo-bar-staging." in page
    deploy.refresh_from_db()
    assert deploy.state == State.QUEUED


def test_the_buttons_carry_the_same_words_for_the_dialog(client_for, alice, endpoint, target):
    client = client_for(alice)
    triggers = html.unescape(client.get("/projects/foo-bar/triggers/").content.decode())
    assert 'data-confirm-question="Delete the webhook of Foo Bar?"' in triggers
    assert 'data-confirm-question="Rotate the webhook\'s signing secret?"' in triggers
    notifications = html.unescape(client.get("/projects/foo-bar/notifications/").content.decode())
    assert 'data-confirm-question="Stop notifying ops@example.com?"' in notifications
    assert "/static/js/confirm.js" in notifications


def actions(project, target):
    deploy = make_deploy(project, environment=target.environment, state=State.RUNNING)
    return [ROTATE, DELETE, GITLAB, stop_url(target), cancel_url(deploy)]


@pytest.mark.parametrize("data", [{}, YES], ids=["asking", "confirmed"])
def test_an_outsider_gets_404_on_each(client_for, charlie, project, endpoint, target, data):
    client = client_for(charlie)
    for url in actions(project, target):
        assert client.post(url, data).status_code == 404, url
    assert NotificationTarget.objects.exists() and WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("data", [{}, YES], ids=["asking", "confirmed"])
def test_a_viewer_gets_403_on_each(client_for, bob_as, project, endpoint, target, data):
    client = client_for(bob_as(Role.VIEWER))
    before = WebhookEndpoint.objects.get().secret
    for url in actions(project, target):
        assert client.post(url, data).status_code == 403, url
    assert WebhookEndpoint.objects.get().secret == before
    assert NotificationTarget.objects.exists()
    assert not project.deploys.filter(cancel_requested=True).exists()
