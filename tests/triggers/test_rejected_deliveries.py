"""Every delivery is listed on the Triggers page, refused ones with the reason in plain words.

Refused deliveries are unauthenticated input: they keep no body, signature or token, and only
the newest RejectedDelivery.KEEP of a webhook are kept."""

import json
import time

import pytest
from django.db import connection

from deploys import webhooks
from deploys.trigger_models import RejectedDelivery, WebhookEvent
from tests.triggers import payloads
from tests.triggers.conftest import GITLAB_TOKEN, SECRET

pytestmark = pytest.mark.django_db

TRIGGERS = "/projects/foo-bar/triggers/"
BODY_MARK = "body-marker-7f3a"  # a value only the body holds


class Clock:
    """Seconds that pass only when the test says so."""

    def __init__(self, step=0.0):
        self.now, self.step = 1000.0, step

    def __call__(self):
        self.now += self.step
        return self.now


@pytest.fixture(autouse=True)
def throttle(monkeypatch):
    """Each refused delivery in its own second, unless a test holds the clock."""
    clock = Clock(step=1.0)
    monkeypatch.setattr(webhooks, "THROTTLE", webhooks.ListingThrottle(clock))
    return clock


def listed(client_for, alice):
    return client_for(alice).get(TRIGGERS).content.decode()


def raw_rows(table) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")  # noqa: S608
        return " ".join(" ".join(map(str, row)) for row in cursor.fetchall())


def marked_run():
    payload = payloads.github_workflow_run()
    payload["workflow_run"]["name"] = BODY_MARK
    return payload


@pytest.mark.parametrize(
    ("send", "status", "reason"),
    [
        (
            {"secret": "not-the-secret"},
            401,
            "Signature does not match the webhook&#x27;s secret: check the secret in your CI "
            "settings",
        ),
        (
            {"headers": {"X-Hub-Signature-256": ""}},
            401,
            "Unsigned: no X-Hub-Signature-256 header",
        ),
        (
            {"headers": {"X-Hub-Signature-256": "sha1=abc"}},
            401,
            "is not sha256=&lt;hex HMAC-SHA256 of the body&gt;",
        ),
        (
            {"provider": "gitlab", "event": "Pipeline Hook", "gitlab_token": SECRET},
            401,
            "GitLab token does not match: paste the webhook&#x27;s current GitLab token",
        ),
        (
            {"provider": "circleci", "event": "workflow-completed", "secret": "wrong"},
            401,
            "Signature does not match the webhook&#x27;s secret",
        ),
    ],
    ids=["bad-signature", "unsigned", "sha1", "gitlab-token", "circleci-signature"],
)
def test_a_refused_delivery_is_listed_with_its_reason(
    deliver, client_for, alice, send, status, reason
):
    provider = send.pop("provider", "github")
    event = send.pop("event", "workflow_run")
    response = deliver(marked_run(), provider=provider, event=event, delivery="d-77", **send)
    assert response.status_code == status
    page = listed(client_for, alice)
    assert reason in page
    assert "Refused" in page and f"<code>{status}</code>" in page
    assert event in page  # the event type from the headers
    assert "127.0.0.1" in page  # the source address
    if provider != "circleci":  # CircleCI names its delivery in the body only
        assert "d-77" in page


def test_a_stale_signed_delivery_is_listed_as_stale(deliver, client_for, alice):
    body = {"branch": "main", "sha": payloads.SHA, "status": "success", "timestamp": 1_000_000}
    assert deliver(body, provider="generic", delivery="old-1").status_code == 401
    page = listed(client_for, alice)
    assert "The delivery is stale: its signed timestamp (1000000)" in page
    assert "Check the sender&#x27;s clock" in page


def test_a_malformed_delivery_is_listed_with_what_is_missing(deliver, client_for, alice):
    payload = payloads.github_workflow_run()
    del payload["workflow_run"]["head_sha"]
    assert deliver(payload).status_code == 400
    page = listed(client_for, alice)
    assert "The body has no head_sha." in page and "<code>400</code>" in page


def test_an_unknown_event_is_listed_as_ignored(deliver, client_for, alice):
    assert deliver({"zen": "Keep it logically awesome."}, event="ping").status_code == 202
    page = listed(client_for, alice)
    assert "GitHub ping events are not build results; herokucd ignores them." in page


def test_a_repeated_delivery_id_is_listed_as_a_repeat(deliver, client_for, alice, environments):
    payload = payloads.github_workflow_run(branch="feature-x")
    assert deliver(payload, delivery="same").status_code == 202
    assert deliver(payload, delivery="same").status_code == 200
    page = listed(client_for, alice)
    assert "Received before (same delivery id): nothing done." in page
    assert page.count("<code>same</code>") == 2


def test_the_answers_are_unchanged(deliver):
    """What CI sees: the same status and body as before the list existed."""
    bad = deliver(payloads.github_workflow_run(), secret="wrong")
    assert bad.json() == {"error": "The signature does not match the webhook's signing secret."}
    unsigned = deliver(payloads.github_workflow_run(), headers={"X-Hub-Signature-256": ""})
    assert unsigned.json() == {"error": "Missing X-Hub-Signature-256 header."}


def test_a_refused_delivery_keeps_no_body_signature_or_token(deliver, endpoint):
    forged_token = "gitlab-token-typed-in-the-wrong-place"
    deliver(marked_run(), secret="wrong-secret-value")
    deliver(marked_run(), provider="gitlab", event="Pipeline Hook", gitlab_token=forged_token)
    deliver(b'{"not": "json", "x": "' + BODY_MARK.encode() + b'"', provider="generic")
    signature = webhooks.hmac_hex("wrong-secret-value", json.dumps(marked_run()).encode())
    rows = raw_rows(RejectedDelivery._meta.db_table)
    assert RejectedDelivery.objects.count() == 3
    for kept_nowhere in (BODY_MARK, signature, forged_token, GITLAB_TOKEN, SECRET):
        assert kept_nowhere not in rows


def test_only_the_newest_refused_deliveries_are_kept(deliver, endpoint, settings):
    keep = RejectedDelivery.KEEP
    for number in range(keep + 5):
        deliver(payloads.github_workflow_run(), secret="wrong", delivery=f"flood-{number}")
    kept = list(endpoint.rejected_deliveries.values_list("delivery_id", flat=True))
    assert len(kept) == keep
    assert kept[0] == f"flood-{keep + 4}" and kept[-1] == "flood-5"


def test_pruning_touches_one_row_per_refused_delivery(
    deliver, endpoint, django_assert_max_num_queries
):
    """The work a refused delivery costs does not grow with what was stored before."""
    for number in range(RejectedDelivery.KEEP):
        deliver(payloads.github_workflow_run(), secret="wrong", delivery=f"a-{number}")
    # endpoint lookup, insert, the row at offset KEEP, one delete (plus savepoints, if any)
    with django_assert_max_num_queries(6):
        deliver(payloads.github_workflow_run(), secret="wrong", delivery="one-more")
    assert endpoint.rejected_deliveries.count() == RejectedDelivery.KEEP


def test_a_refused_flood_does_not_push_out_recorded_events(deliver, endpoint, environments):
    deliver(payloads.github_workflow_run(branch="feature-x"), delivery="real")
    for number in range(RejectedDelivery.KEEP + 1):
        deliver(payloads.github_workflow_run(), secret="wrong", delivery=f"f-{number}")
    assert WebhookEvent.objects.filter(delivery_id="real").exists()


def test_another_projects_deliveries_are_not_listed(deliver, client_for, charlie, project):
    deliver(payloads.github_workflow_run(), secret="wrong")
    assert client_for(charlie).get(TRIGGERS).status_code == 404


def test_deliveries_are_listed_newest_first(deliver, client_for, alice, environments):
    deliver(payloads.github_workflow_run(branch="feature-x"), delivery="first")
    time.sleep(0.01)
    deliver(payloads.github_workflow_run(), secret="wrong", delivery="second")
    page = listed(client_for, alice)
    assert page.index("<code>second</code>") < page.index("<code>first</code>")


def test_a_forged_delivery_id_does_not_stop_the_real_delivery(deliver, endpoint, environments):
    """Refused deliveries are kept apart: their delivery id is no "received before"."""
    payload = payloads.github_workflow_run(branch="feature-x")
    assert deliver(payload, secret="forged", delivery="ci-42").status_code == 401
    assert deliver(payload, delivery="ci-42").status_code == 202
    assert WebhookEvent.objects.filter(delivery_id="ci-42").exists()


def test_a_flood_within_a_second_writes_at_most_the_rate_and_says_how_many_it_left_out(
    deliver, endpoint, throttle, client_for, alice
):
    throttle.step = 0.0  # every delivery in the same second
    rate = webhooks.ListingThrottle.RATE
    for number in range(rate + 20):
        assert (
            deliver(payloads.github_workflow_run(), secret="x", delivery=f"n{number}").status_code
            == 401
        )
    assert endpoint.rejected_deliveries.count() == rate
    throttle.now += 1
    deliver(payloads.github_workflow_run(), secret="x", delivery="next-second")
    assert endpoint.rejected_deliveries.count() == rate + 1
    page = listed(client_for, alice)
    assert "(20 more just before were not listed: over 5 a second.)" in page
