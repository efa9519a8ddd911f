"""Notifications reach a real local HTTP receiver and Django's email outbox, signed and retried."""

import hashlib
import hmac
import http.server
import json
import threading
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from rq import SimpleWorker

from deploys import notifications
from deploys.models import Deploy, State, Trigger
from deploys.trigger_models import NotificationDelivery, NotificationTarget
from projects.models import Environment

pytestmark = pytest.mark.django_db
SHA = "0123456789abcdef0123456789abcdef01234567"


class Receiver(http.server.ThreadingHTTPServer):
    """Answers with the next of `statuses` (the last one repeats) and keeps what it received."""

    def __init__(self, statuses=(200,), delay=0.0):
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.statuses, self.delay, self.received = list(statuses), delay, []
        self.url = f"http://127.0.0.1:{self.server_address[1]}/hooks/deploys/s3cr3tpath"


class ReceiverHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # the name http.server calls
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((dict(self.headers), body))
        time.sleep(self.server.delay)
        status = (
            self.server.statuses.pop(0)
            if len(self.server.statuses) > 1
            else self.server.statuses[0]
        )
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    servers = []

    def start(statuses=(200,), delay=0.0):
        server = Receiver(statuses, delay)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture
def staging(project):
    return Environment.objects.create(
        project=project, name="staging", branch="develop", app_name="foo-bar-staging"
    )


def finished(environment, state, number=1, **extra):
    now = timezone.now()
    return Deploy.objects.create(
        project=environment.project,
        number=number,
        environment=environment,
        environment_name=environment.name,
        app_name=environment.app_name,
        branch="develop",
        sha=SHA,
        state=state,
        started_at=now - timedelta(seconds=72),
        finished_at=now,
        reason="Heroku rejected the push: pre-receive hook declined" if state == "failed" else "",
        notify_pending=True,  # as the UPDATE that ends a deploy leaves it
        **extra,
    )


def target(environment, kind="webhook", address="", **options):
    return NotificationTarget.objects.create(
        environment=environment,
        kind=kind,
        address=address,
        secret="whsec-test" if kind == "webhook" else "",
        **options,
    )


def run_jobs(queue):
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def notify(deploy, queue, capture):
    with capture(execute=True):
        notifications.deploy_finished(deploy)
    run_jobs(queue)


def test_a_failed_deploy_is_posted_signed_to_a_webhook(
    staging, alice, receiver, queue, django_capture_on_commit_callbacks
):
    server = receiver()
    hook = target(staging, address=server.url)
    deploy = finished(staging, State.FAILED, triggered_by=alice)
    notify(deploy, queue, django_capture_on_commit_callbacks)

    ((headers, body),) = server.received
    stamp, signature = (
        part.split("=", 1)[1] for part in headers["X-Herokucd-Signature"].split(",")
    )
    expected = hmac.new(b"whsec-test", f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)
    assert abs(int(stamp) - time.time()) < 30
    sent = json.loads(body)
    assert sent["event"] == "failed"
    assert sent["headline"] == "Deploy #1 of Foo Bar to staging failed"
    assert (sent["project"], sent["environment"], sent["app"], sent["branch"]) == (
        "Foo Bar",
        "staging",
        "foo-bar-staging",
        "develop",
    )
    assert (sent["short_sha"], sent["trigger"], sent["duration"]) == (
        "0123456",
        "manual by alice",
        "1m 12s",
    )
    assert sent["url"] == "http://testserver.example/projects/foo-bar/deploys/1/"
    delivery = NotificationDelivery.objects.get(target=hook)
    assert (delivery.status, delivery.response_code, delivery.attempt) == ("delivered", 200, 1)


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.SITE_URL = "http://testserver.example"
    settings.NOTIFICATION_RETRY_INTERVALS = [0, 0, 0]


def test_a_slack_target_gets_the_slack_incoming_webhook_body(
    staging, receiver, queue, django_capture_on_commit_callbacks
):
    server = receiver()
    target(staging, address=server.url, slack_format=True)
    notify(
        finished(
            staging, State.FAILED, trigger=Trigger.WEBHOOK, trigger_detail="GitHub workflow_run CI"
        ),
        queue,
        django_capture_on_commit_callbacks,
    )
    sent = json.loads(server.received[0][1])
    assert list(sent) == ["text"]
    assert sent["text"].startswith(
        "*<http://testserver.example/projects/foo-bar/deploys/1/|Deploy #1 of Foo Bar to staging "
        "failed>*"
    )
    assert "Triggered: webhook (GitHub workflow_run CI)" in sent["text"]
    assert "Branch: develop at 0123456" in sent["text"]


def test_an_email_names_everything_and_links_the_log(
    staging, alice, queue, django_capture_on_commit_callbacks
):
    target(staging, kind="email", address="ops@example.com")
    notify(
        finished(staging, State.FAILED, triggered_by=alice),
        queue,
        django_capture_on_commit_callbacks,
    )
    (email,) = mail.outbox
    assert email.to == ["ops@example.com"]
    assert email.subject == "Deploy #1 of Foo Bar to staging failed"
    for text in [
        "Project: Foo Bar",
        "Environment: staging (app foo-bar-staging)",
        "Branch: develop at 0123456",
        "Triggered: manual by alice",
        "Duration: 1m 12s",
        "Why: Heroku rejected the push",
        "Log: http://testserver.example/projects/foo-bar/deploys/1/",
    ]:
        assert text in email.body
    assert NotificationDelivery.objects.get().status == "delivered"


def test_a_success_after_a_failure_is_a_recovery(
    staging, queue, django_capture_on_commit_callbacks
):
    target(
        staging, kind="email", address="recoveries@example.com", on_failed=False, on_recovered=True
    )
    target(
        staging, kind="email", address="failures@example.com", on_failed=True, on_recovered=False
    )
    finished(staging, State.FAILED, number=1)
    finished(staging, State.CANCELED, number=2)  # a cancel does not hide the failure
    notify(finished(staging, State.SUCCEEDED, number=3), queue, django_capture_on_commit_callbacks)
    (email,) = mail.outbox
    assert email.to == ["recoveries@example.com"]
    assert email.subject == "Deploy #3 of Foo Bar to staging succeeded again (recovered)"


def test_a_plain_success_only_reaches_who_asked_for_successes(
    staging, queue, django_capture_on_commit_callbacks
):
    target(staging, kind="email", address="failures@example.com")
    target(staging, kind="email", address="all@example.com", on_succeeded=True)
    finished(staging, State.SUCCEEDED, number=1)
    notify(finished(staging, State.SUCCEEDED, number=2), queue, django_capture_on_commit_callbacks)
    assert [email.to for email in mail.outbox] == [["all@example.com"]]


def test_a_canceled_deploy_notifies_nobody(staging, queue, django_capture_on_commit_callbacks):
    target(staging, kind="email", address="all@example.com", on_succeeded=True)
    notify(finished(staging, State.CANCELED), queue, django_capture_on_commit_callbacks)
    assert mail.outbox == []


def test_a_failed_delivery_is_retried_and_every_attempt_recorded(
    staging, receiver, queue, django_capture_on_commit_callbacks
):
    server = receiver(statuses=[500, 503, 200])
    hook = target(staging, address=server.url)
    notify(finished(staging, State.FAILED), queue, django_capture_on_commit_callbacks)
    attempts = NotificationDelivery.objects.filter(target=hook).order_by("attempt")
    assert [(a.attempt, a.status, a.response_code) for a in attempts] == [
        (1, "failed", 500),
        (2, "failed", 503),
        (3, "delivered", 200),
    ]
    assert attempts[0].error == "The receiver answered HTTP 500."
    assert len(server.received) == 3


def test_an_unreachable_receiver_is_recorded_without_its_url(
    staging, queue, django_capture_on_commit_callbacks, settings
):
    settings.NOTIFICATION_RETRY_INTERVALS = []
    hook = target(staging, address="http://127.0.0.1:9/hooks/secret-token-in-path")
    notify(finished(staging, State.FAILED), queue, django_capture_on_commit_callbacks)
    attempt = NotificationDelivery.objects.get(target=hook)
    assert attempt.status == "failed"
    assert attempt.error == "Could not deliver it: could not connect (connection refused)."


def test_notifying_never_waits_for_the_receiver(
    staging, receiver, queue, django_capture_on_commit_callbacks
):
    server = receiver(delay=3)
    target(staging, address=server.url)
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        notifications.deploy_finished(finished(staging, State.FAILED))
    assert time.monotonic() - started < 0.5
    assert server.received == []
    assert queue.count == 1


def test_a_webhook_url_is_stored_encrypted_and_shown_masked(staging):
    hook = target(staging, address="https://hooks.slack.com/services/T000/B000/XXXXsecret")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT address, secret FROM deploys_notificationtarget WHERE id = %s", [hook.pk]
        )
        address, secret = cursor.fetchone()
    assert "hooks.slack.com" not in address and "whsec-test" not in secret
    assert hook.shown_address == "https://hooks.slack.com/••••••••cret"
