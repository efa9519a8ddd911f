"""The URLs herokucd shows: SITE_URL when set, else the host and port the request came to;
notifications (sent by workers, without a request) use the address their target was added from."""

import pytest
import requests
from django.core import mail

from deploys import notifications
from deploys.models import State
from deploys.trigger_models import NotificationTarget, WebhookEndpoint
from tests.deploys.factories import make_deploy, make_environment

pytestmark = pytest.mark.django_db

TRIGGERS = "/projects/foo-bar/triggers/"
NOTIFICATIONS = "/projects/foo-bar/notifications/"


@pytest.fixture
def endpoint(project):
    return WebhookEndpoint.objects.create(project=project, secret="s" * 64)


def signed_in_get(live_server, client, user, path):
    """GET over real HTTP from the live server, with `user`'s session."""
    client.force_login(user, backend="projects.backends.ModelBackend")
    cookies = {name: morsel.value for name, morsel in client.cookies.items()}
    return requests.get(live_server.url + path, cookies=cookies, timeout=10)


def test_the_webhook_url_uses_the_host_and_port_served(
    live_server, client, alice, endpoint, settings
):
    settings.SITE_URL = ""
    page = signed_in_get(live_server, client, alice, TRIGGERS).text
    assert f"{live_server.url}/hooks/{endpoint.public_id}/" in page
    assert ":8000/" not in page


def test_site_url_wins_when_set(client_for, alice, endpoint, settings):
    settings.SITE_URL = "https://cd.example.com"
    page = client_for(alice).get(TRIGGERS, HTTP_HOST="localhost:5555").content.decode()
    assert f"https://cd.example.com/hooks/{endpoint.public_id}/" in page
    assert "localhost:5555" not in page


def test_a_host_outside_allowed_hosts_is_refused(client_for, alice, endpoint, settings):
    settings.SITE_URL = ""
    settings.ALLOWED_HOSTS = ["localhost"]
    response = client_for(alice).get(TRIGGERS, HTTP_HOST="evil.example.com")
    assert response.status_code == 400


def test_the_api_gives_urls_on_the_address_it_was_asked_at(client, alice, project, settings):
    from deploys.trigger_models import ApiToken

    settings.SITE_URL = ""
    _, value = ApiToken.issue(alice, "script")
    response = client.get(
        "/api/v1/projects/foo-bar/",
        HTTP_AUTHORIZATION=f"Bearer {value}",
        HTTP_HOST="localhost:4321",
    )
    assert response.json()["url"] == "http://localhost:4321/projects/foo-bar/"


def add_email_target(client, staging, host):
    client.post(
        NOTIFICATIONS,
        {
            "environment": staging.pk,
            "kind": "email",
            "address": "ops@example.com",
            "on_failed": "on",
        },
        HTTP_HOST=host,
    )
    return NotificationTarget.objects.get()


def test_a_notification_links_to_the_address_its_target_was_added_from(
    client_for, alice, project, settings
):
    settings.SITE_URL = ""
    staging = make_environment(project)
    target = add_email_target(client_for(alice), staging, "localhost:4444")
    deploy = make_deploy(project, staging, state=State.FAILED)
    notifications.deliver(target.pk, deploy.pk, "failed")
    assert f"Log: http://localhost:4444/projects/foo-bar/deploys/{deploy.number}/" in (
        mail.outbox[0].body
    )


def test_a_notification_links_to_site_url_when_set(client_for, alice, project, settings):
    settings.SITE_URL = ""
    staging = make_environment(project)
    target = add_email_target(client_for(alice), staging, "localhost:4444")
    settings.SITE_URL = "https://cd.example.com"
    deploy = make_deploy(project, staging, state=State.FAILED)
    notifications.deliver(target.pk, deploy.pk, "failed")
    body = mail.outbox[0].body
    assert f"Log: https://cd.example.com/projects/foo-bar/deploys/{deploy.number}/" in body


def test_the_notifications_page_asks_for_site_url_when_it_is_unset(
    client_for, alice, project, settings
):
    settings.SITE_URL = ""
    staging = make_environment(project)
    client = client_for(alice)
    add_email_target(client, staging, "localhost:4444")
    page = client.get(NOTIFICATIONS).content.decode()
    assert "<code>SITE_URL</code> is not set." in page
    assert "<code>http://localhost:4444</code>" in page  # where this target's links point
    settings.SITE_URL = "https://cd.example.com"
    page = client.get(NOTIFICATIONS).content.decode()
    assert "is not set" not in page and "<code>https://cd.example.com</code>" in page


def test_the_setup_token_names_the_page_without_site_url(settings):
    import io

    from django.core.management import call_command

    settings.SITE_URL = ""
    out = io.StringIO()
    call_command("setup_token", stdout=out)
    assert "Create one at /setup/first-admin/ (on the dashboard's address)" in out.getvalue()
    assert "127.0.0.1:8000" not in out.getvalue()
