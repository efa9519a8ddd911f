"""The triggers pages: webhook URL and secret, notifications, API tokens."""

import pytest

from deploys.trigger_models import ApiToken, NotificationTarget, WebhookEndpoint
from projects.models import AuditEvent, Environment, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def staging(project):
    return Environment.objects.create(
        project=project, name="staging", branch="develop", app_name="foo-bar-staging"
    )


PROJECT_PAGES = ["/projects/foo-bar/triggers/", "/projects/foo-bar/notifications/"]
ADMIN_POSTS = [
    "/projects/foo-bar/triggers/webhook/",
    "/projects/foo-bar/triggers/webhook/rotate/",
    "/projects/foo-bar/notifications/",
]


@pytest.mark.parametrize("url", [*PROJECT_PAGES, "/account/tokens/"])
def test_pages_need_a_sign_in(client, project, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith("/login/")


@pytest.mark.parametrize("url", [*PROJECT_PAGES, *ADMIN_POSTS])
def test_an_outsider_gets_404(client_for, charlie, project, url):
    client = client_for(charlie)
    assert client.get(url).status_code in (404, 405)
    assert client.post(url).status_code == 404


@pytest.mark.parametrize("url", ADMIN_POSTS)
def test_a_viewer_cannot_change_triggers(client_for, bob_as, project, staging, url):
    WebhookEndpoint.objects.create(project=project, secret="x" * 64)
    client = client_for(bob_as(Role.VIEWER))
    before = WebhookEndpoint.objects.get().secret
    response = client.post(
        url,
        {"environment": staging.pk, "kind": "email", "address": "a@example.com", "on_failed": "on"},
    )
    assert response.status_code == 403
    assert WebhookEndpoint.objects.get().secret == before
    assert not NotificationTarget.objects.exists()


def test_a_viewer_sees_the_webhook_masked_without_buttons(client_for, bob_as, project):
    endpoint = WebhookEndpoint.objects.create(project=project, secret="0123456789abcdef" * 4)
    page = client_for(bob_as(Role.VIEWER)).get("/projects/foo-bar/triggers/").content.decode()
    assert f"http://testserver/hooks/{endpoint.public_id}/" in page
    assert "••••••••cdef" in page
    assert "0123456789abcdef" not in page
    assert "Rotate secret" not in page


def test_the_secret_is_shown_once_at_creation_then_masked(client_for, alice, project):
    client = client_for(alice)
    created = client.post("/projects/foo-bar/triggers/webhook/")
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret in created.content.decode()
    later = client.get("/projects/foo-bar/triggers/").content.decode()
    assert endpoint.secret not in later
    assert endpoint.masked_secret in later
    assert AuditEvent.objects.filter(action="webhook.created").exists()
    assert endpoint.secret not in str(AuditEvent.objects.values_list("details", flat=True))


def test_rotating_shows_the_new_secret_once_and_keeps_the_old_one_for_a_day(
    client_for, alice, project
):
    client = client_for(alice)
    client.post("/projects/foo-bar/triggers/webhook/")
    old = WebhookEndpoint.objects.get().secret
    response = client.post("/projects/foo-bar/triggers/webhook/rotate/", {"confirmed": "yes"})
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret != old and endpoint.secret in response.content.decode()
    assert endpoint.valid_secrets() == [endpoint.secret, old]
    assert "still accepted for 23" in client.get("/projects/foo-bar/triggers/").content.decode()


def test_the_deliveries_page_shows_what_happened_to_each_event(client_for, alice, project):
    endpoint = WebhookEndpoint.objects.create(project=project, secret="s")
    endpoint.events.create(
        provider="github",
        event="workflow_run",
        branch="feature-x",
        outcome="no_deploy",
        reason="No environment deploys branch feature-x.",
    )
    page = client_for(alice).get("/projects/foo-bar/triggers/").content.decode()
    assert "No environment deploys branch feature-x." in page
    assert "just now</time>" in page  # the same time words as every other page


def test_an_admin_adds_an_email_notification(client_for, alice, staging):
    response = client_for(alice).post(
        "/projects/foo-bar/notifications/",
        {
            "environment": staging.pk,
            "kind": "email",
            "address": "ops@example.com",
            "on_failed": "on",
            "on_recovered": "on",
        },
        follow=True,
    )
    target = NotificationTarget.objects.get()
    assert (target.address, target.on_failed, target.on_succeeded) == (
        "ops@example.com",
        True,
        False,
    )
    assert "ops@example.com will be told about deploys of staging." in response.content.decode()


def test_a_webhook_notification_shows_its_signing_secret_once(client_for, alice, staging):
    client = client_for(alice)
    response = client.post(
        "/projects/foo-bar/notifications/",
        {
            "environment": staging.pk,
            "kind": "webhook",
            "address": "https://hooks.slack.com/services/T0/B0/abcdefgh",
            "slack_format": "on",
            "on_failed": "on",
        },
    )
    target = NotificationTarget.objects.get()
    assert target.secret in response.content.decode()
    page = client.get("/projects/foo-bar/notifications/").content.decode()
    assert target.secret not in page
    assert "abcdefgh" not in page and "••••••••efgh" in page


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"kind": "email", "address": "not-an-email", "on_failed": "on"}, "Enter an email"),
        ({"kind": "webhook", "address": "ftp://x", "on_failed": "on"}, "Enter an http://"),
        ({"kind": "email", "address": "ops@example.com"}, "Choose at least one event"),
    ],
)
def test_a_bad_notification_says_what_is_wrong_and_saves_nothing(
    client_for, alice, staging, data, error
):
    response = client_for(alice).post(
        "/projects/foo-bar/notifications/", {"environment": staging.pk, **data}
    )
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not NotificationTarget.objects.exists()


def test_an_admin_removes_a_notification(client_for, alice, staging):
    target = NotificationTarget.objects.create(
        environment=staging, kind="email", address="ops@example.com"
    )
    client_for(alice).post(
        f"/projects/foo-bar/notifications/{target.pk}/delete/", {"confirmed": "yes"}
    )
    assert not NotificationTarget.objects.exists()


def test_a_token_is_shown_once_and_listed_by_its_prefix(client_for, alice):
    client = client_for(alice)
    response = client.post("/account/tokens/", {"name": "release script"})
    token = ApiToken.objects.get()
    page = response.content.decode()
    value = page.split('aria-labelledby="token-label">')[1].split("<")[0]
    assert value.startswith(token.prefix) and ApiToken.find(value) == token
    listing = client.get("/account/tokens/").content.decode()
    assert value not in listing and token.prefix in listing


def test_a_token_name_must_be_new(client_for, alice):
    ApiToken.issue(alice, "release script")
    response = client_for(alice).post("/account/tokens/", {"name": "release script"})
    assert "You already have a token with this name" in response.content.decode()
    assert ApiToken.objects.count() == 1


def test_revoking_a_token_stops_it_and_nobody_else_can_revoke_it(client_for, alice, charlie):
    token, _ = ApiToken.issue(alice, "script")
    assert client_for(charlie).post(f"/account/tokens/{token.pk}/revoke/").status_code == 404
    assert ApiToken.objects.exists()
    client_for(alice).post(f"/account/tokens/{token.pk}/revoke/")
    assert not ApiToken.objects.exists()


def test_the_settings_panel_shows_the_git_budget(client_for, alice, project, staging):
    from django.utils import timezone

    from deploys.trigger_models import GitRequest
    from herokucd.crypto import keyed_hash
    from projects.models import HerokuCredential

    HerokuCredential.objects.create(
        project=project,
        api_key="HRKU-test",
        key_hash=keyed_hash("HRKU-test"),
        account_email="d@example.com",
        account_id="1",
        validated_at=timezone.now(),
    )
    GitRequest.objects.create(key_hash=keyed_hash("HRKU-test"), app_name="foo-bar-staging")
    page = client_for(alice).get("/projects/foo-bar/triggers/").content.decode()
    assert "73 of 75" in page


def test_the_created_page_shows_the_url_with_the_secret_and_ci_settings_using_it(
    client_for, alice, project, settings
):
    settings.SITE_URL = ""
    created = client_for(alice).post(
        "/projects/foo-bar/triggers/webhook/", HTTP_HOST="localhost:9000"
    )
    endpoint = WebhookEndpoint.objects.get()
    page = created.content.decode()
    url = f"http://localhost:9000/hooks/{endpoint.public_id}/"
    assert f'aria-labelledby="webhook-url-label">{url}</pre>' in page
    assert f'aria-labelledby="secret-label">{endpoint.secret}</pre>' in page
    assert f"Payload URL <code>{url}</code>" in page  # GitHub
    assert f"curl -fsS -X POST '{url}'" in page  # any other CI


def test_rotating_shows_the_url_with_the_new_secret(client_for, alice, project):
    client = client_for(alice)
    client.post("/projects/foo-bar/triggers/webhook/")
    page = client.post("/projects/foo-bar/triggers/webhook/rotate/", {"confirmed": "yes"})
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret in page.content.decode()
    assert f"/hooks/{endpoint.public_id}/</pre>" in page.content.decode()
