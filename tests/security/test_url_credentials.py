"""A password in a health check URL or a notification webhook URL is stored encrypted apart from
the URL, shown as https://monitor:••••@host/..., never in an input's value, a log line, an RQ job
or a column but its ciphertext; internal URLs are refused on save in the deploy log's words."""

import base64
import importlib
import logging

import django_rq
import pytest
from django.apps import apps
from django.db import connection
from django.test import Client

from deploys import notifications
from deploys.models import State
from deploys.trigger_models import ApiToken, NotificationTarget
from herokucd import crypto
from projects.models import Environment, Role
from tests.deploys.test_pipeline import deploy_now, log_text
from tests.projects.test_canary_setup import all_cells, assert_absent, encodings
from tests.triggers.test_notifications import run_jobs

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "hc-canary-Zq81vXk"
HOOK_PASSWORD = "hook-canary-Wm27pLd"
REFUSED = (
    "refused: 127.0.0.1 is a loopback address; ask the administrator to allow it in "
    "OUTBOUND_ALLOWED_NETWORKS."
)


def options_url(environment):
    return f"/projects/{environment.project.slug}/settings/environments/{environment.pk}/"


def options(environment, health_check_url):
    """The options form as the page submits it, with the health check URL given."""
    return {
        "name": environment.name,
        "branch": environment.branch,
        "app_name": environment.app_name,
        "heroku_branch": "main",
        "maintenance_mode": "off",
        "when_commit_on_heroku": "fail",
        "migration_preset": "none",
        "migration_timeout": 400,
        "pre_deploy_timeout": 600,
        "post_deploy_timeout": 600,
        "health_check_url": health_check_url,
        "health_check_status": 200,
        "health_check_retries": 0,
        "health_check_delay": 5,
    }


@pytest.fixture
def admin(client_for, alice):
    return client_for(alice)


@pytest.fixture
def viewer(bob_as):
    client = Client()
    client.force_login(bob_as(Role.VIEWER), backend="projects.backends.ModelBackend")
    return client


def column(table, name, pk):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {name} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def body_of(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def input_values(body: str) -> str:
    return " ".join(part.split('"', 1)[0] for part in body.split('value="')[1:])


# -- health check URL ---------------------------------------------------------------------------


def test_the_health_check_password_is_stored_encrypted_apart_and_shown_masked(
    admin, viewer, environment, serve
):
    server = serve()
    url = server.url.replace("http://", f"http://monitor:{PASSWORD}@")
    response = admin.post(options_url(environment), options(environment, url))
    assert response.status_code == 302, response.content.decode()[:2000]
    environment.refresh_from_db()
    assert environment.health_check_target == url
    assert column("projects_environment", "health_check_url", environment.pk) == server.url
    stored = column("projects_environment", "health_check_userinfo", environment.pk)
    assert PASSWORD not in stored and crypto.decrypt(stored) == f"monitor:{PASSWORD}"
    shown = server.url.replace("http://", "http://monitor:••••@")
    for client in (admin, viewer):
        body = client.get(options_url(environment)).content.decode()
        assert PASSWORD not in body
        assert shown in input_values(body) or shown in body


def test_sending_the_masked_url_back_keeps_the_password_and_another_host_needs_it_again(
    admin, environment, serve
):
    server = serve()
    admin.post(
        options_url(environment),
        options(environment, server.url.replace("http://", f"http://monitor:{PASSWORD}@")),
    )
    masked = server.url.replace("http://", "http://monitor:••••@")
    admin.post(options_url(environment), options(environment, masked + "?again=1"))
    environment.refresh_from_db()
    assert environment.health_check_userinfo == f"monitor:{PASSWORD}"
    assert environment.health_check_url == server.url + "?again=1"

    elsewhere = masked.replace("127.0.0.1", "localhost")
    body = admin.post(options_url(environment), options(environment, elsewhere)).content.decode()
    assert "Type the password again" in body
    environment.refresh_from_db()
    assert environment.health_check_url == server.url + "?again=1"


def test_a_form_sent_back_with_an_error_shows_the_typed_password_masked(admin, environment):
    data = options(environment, f"https://monitor:{PASSWORD}@status.example.com/health")
    data["health_check_retries"] = -1
    body = admin.post(options_url(environment), data).content.decode()
    assert "https://monitor:••••@status.example.com/health" in input_values(body)
    assert PASSWORD not in body


def test_the_deploy_log_shows_the_url_masked_and_the_server_gets_the_password(
    environment, sim, serve, client, alice
):
    server = serve()
    environment.health_check_url = server.url.replace("http://", f"http://monitor:{PASSWORD}@")
    environment.save()
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    shown = server.url.replace("http://", "http://monitor:••••@")
    assert f"GET {shown}: healthy" in log_text(deploy)
    sent = base64.b64encode(f"monitor:{PASSWORD}".encode()).decode()
    assert server.requests[0]["Authorization"] == f"Basic {sent}"
    client.force_login(alice, backend="projects.backends.ModelBackend")
    raw = client.get(f"/projects/{environment.project.slug}/deploys/{deploy.number}/log.txt")
    assert shown in body_of(raw) and PASSWORD not in body_of(raw)
    token = ApiToken.issue(alice, "tests")[1]
    api = client.get(
        f"/api/v1/projects/{environment.project.slug}/deploys/{deploy.number}/log/",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert api.status_code == 200 and PASSWORD not in api.content.decode()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_an_internal_health_check_url_is_refused_on_save_in_the_log_s_words(
    admin, environment, settings, host
):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    url = f"http://{host}:8080/health"
    body = admin.post(options_url(environment), options(environment, url)).content.decode()
    assert "Health check refused:" in body and "is a loopback address; ask the administrator" in (
        body.replace("&#x27;", "'")
    )
    environment.refresh_from_db()
    assert environment.health_check_url == ""


def test_the_migration_moves_a_stored_password_out_of_the_url(environment):
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE projects_environment SET health_check_url = %s WHERE id = %s",
            [f"https://monitor:{PASSWORD}@status.example.com/health", environment.pk],
        )
    migration = importlib.import_module("projects.migrations.0007_health_check_userinfo")
    migration.move_userinfo_out(apps, None)
    environment = Environment.objects.get(pk=environment.pk)
    assert environment.health_check_url == "https://status.example.com/health"
    assert environment.health_check_userinfo == f"monitor:{PASSWORD}"
    assert PASSWORD not in column("projects_environment", "health_check_userinfo", environment.pk)


# -- notification webhooks ----------------------------------------------------------------------


def notifications_url(environment):
    return f"/projects/{environment.project.slug}/notifications/"


def add_hook(admin, environment, address):
    return admin.post(
        notifications_url(environment),
        {"environment": environment.pk, "kind": "webhook", "address": address, "on_failed": "on"},
    )


def test_a_notification_url_password_is_shown_masked(admin, viewer, environment):
    add_hook(admin, environment, f"https://bot:{HOOK_PASSWORD}@hooks.example.com/deploys")
    target = NotificationTarget.objects.get()
    assert target.shown_address.startswith("https://bot:••••@hooks.example.com/")
    for client in (admin, viewer):
        body = client.get(notifications_url(environment)).content.decode()
        assert "https://bot:••••@hooks.example.com/" in body
        assert HOOK_PASSWORD not in body


def test_a_refused_notification_url_is_shown_back_with_its_password_masked(
    admin, environment, settings
):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    body = add_hook(admin, environment, f"http://bot:{HOOK_PASSWORD}@127.0.0.1:9/x").content
    assert "http://bot:••••@127.0.0.1:9/x" in input_values(body.decode())
    assert HOOK_PASSWORD not in body.decode()


def test_an_internal_notification_url_is_refused_on_save(admin, environment, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    body = add_hook(admin, environment, "http://127.0.0.1:9000/hooks").content.decode()
    assert f"Notification {REFUSED}" in body.replace("&#x27;", "'")
    assert not NotificationTarget.objects.exists()


# -- the canary sweep ---------------------------------------------------------------------------


def test_the_two_passwords_appear_nowhere_but_as_ciphertext(
    admin, viewer, environment, sim, serve, queue, caplog, settings
):
    """Set both through the pages, deploy, notify; then look in every page, log record, RQ job,
    deploy log line and database cell for either password in any encoding."""
    caplog.set_level(logging.DEBUG)
    settings.NOTIFICATION_RETRY_INTERVALS = []
    health, hook = serve(), serve()
    with_password = health.url.replace("http://", f"http://monitor:{PASSWORD}@")
    hook_url = hook.url.replace("http://", f"http://bot:{HOOK_PASSWORD}@")
    pages = [admin.post(options_url(environment), options(environment, with_password))]
    pages.append(add_hook(admin, environment, hook_url))
    environment.refresh_from_db()
    NotificationTarget.objects.update(on_succeeded=True)

    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    jobs = django_rq.get_queue("default").jobs
    jobs_text = " ".join(f"{job.description} {job.args!r} {job.kwargs!r}" for job in jobs)
    notifications.send_pending(min_age=0)
    run_jobs(queue)
    assert hook.requests, "the notification was not delivered: the sweep would prove little"

    slug = environment.project.slug
    for path in [
        options_url(environment),
        f"/projects/{slug}/settings/",
        notifications_url(environment),
        f"/projects/{slug}/",
        f"/projects/{slug}/deploys/{deploy.number}/",
        f"/projects/{slug}/deploys/{deploy.number}/log.txt",
        "/",
    ]:
        pages += [admin.get(path), viewer.get(path)]
    secrets = {
        "health check password": encodings(PASSWORD),
        "hook password": encodings(HOOK_PASSWORD),
    }
    for response in pages:
        assert_absent(secrets, body_of(response), f"page {response.request['PATH_INFO']}")
    assert_absent(secrets, log_text(deploy), "the deploy log")
    assert_absent(secrets, jobs_text, "an RQ job")
    for record in caplog.records:
        text = f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        assert_absent(secrets, text, f"log record {record.name}")
    for table, cell in all_cells():
        assert_absent(secrets, cell, f"table {table}")
