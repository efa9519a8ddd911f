"""Signatures are checked on the raw body, before parsing, in constant time."""

import json

import pytest

from deploys import webhooks
from deploys.trigger_models import WebhookEvent, hash_token
from tests.triggers import payloads
from tests.triggers.conftest import GITLAB_TOKEN, SECRET, sign

GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def github_headers(signature):
    return {"X-GitHub-Event": "workflow_run", "X-Hub-Signature-256": signature}


def test_it_accepts_githubs_documented_test_vector():
    webhooks.verify("github", github_headers(GITHUB_SIGNATURE), GITHUB_BODY, [GITHUB_SECRET])


@pytest.mark.parametrize(
    "signature",
    [
        GITHUB_SIGNATURE[:-1] + "f",  # tampered
        GITHUB_SIGNATURE[:-8],  # truncated
        "",  # missing
        "sha1=" + GITHUB_SIGNATURE.split("=")[1],  # wrong scheme
        GITHUB_SIGNATURE.split("=")[1],  # no scheme
        "sha256=" + "é" * 64,  # not even hex
    ],
    ids=["tampered", "truncated", "missing", "wrong-scheme", "no-scheme", "non-ascii"],
)
def test_it_rejects_a_bad_github_signature(signature):
    with pytest.raises(webhooks.SignatureError):
        webhooks.verify("github", github_headers(signature), GITHUB_BODY, [GITHUB_SECRET])


def test_it_rejects_a_tampered_body():
    with pytest.raises(webhooks.SignatureError):
        webhooks.verify(
            "github", github_headers(GITHUB_SIGNATURE), b"Hello, World?", [GITHUB_SECRET]
        )


def test_it_accepts_circleci_v1_among_other_versions():
    body = b"hello world"
    header = f"v0=deadbeef, v1={sign('secret', body)}"
    webhooks.verify("circleci", {"circleci-signature": header}, body, ["secret"])
    assert sign("secret", b"hello world").startswith("734cc62f")  # CircleCI's own vector
    assert sign("secret", b"foo").startswith("773ba446")


@pytest.mark.parametrize("header", ["", "v0=abc", f"v1={'0' * 64}", "v1="])
def test_it_rejects_a_bad_circleci_signature(header):
    with pytest.raises(webhooks.SignatureError):
        webhooks.verify("circleci", {"circleci-signature": header}, b"hello world", ["secret"])


def test_it_accepts_the_gitlab_token():
    webhooks.verify("gitlab", {"X-Gitlab-Token": GITLAB_TOKEN}, b"{}", [hash_token(GITLAB_TOKEN)])


@pytest.mark.parametrize(
    "token", ["", "gitlab-token", "gitlab-token-for-tests ", "GITLAB-TOKEN-FOR-TESTS", SECRET]
)
def test_it_rejects_a_wrong_gitlab_token(token):
    with pytest.raises(webhooks.SignatureError):
        webhooks.verify("gitlab", {"X-Gitlab-Token": token}, b"{}", [hash_token(GITLAB_TOKEN)])


@pytest.mark.django_db
@pytest.mark.parametrize("provider", ["github", "circleci", "gitlab", "generic"])
def test_a_bad_signature_gets_401_and_records_nothing(deliver, environments, provider):
    event = {
        "github": "workflow_run",
        "circleci": "workflow-completed",
        "gitlab": "Pipeline Hook",
        "generic": "",
    }[provider]
    response = deliver(
        payloads.github_workflow_run(),
        provider=provider,
        event=event,
        secret="not-the-secret",
        gitlab_token="not-the-token",
    )
    assert response.status_code == 401
    assert "secret" in response.json()["error"] or "signature" in response.json()["error"]
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_a_missing_signature_gets_401_before_the_body_is_read(client, endpoint):
    response = client.post(
        endpoint.get_absolute_url(),
        data=b"{not json",
        content_type="application/json",
        headers={"X-GitHub-Event": "status"},
    )
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_rotating_keeps_the_old_secret_valid_for_24_hours(deliver, endpoint, environments):
    from datetime import timedelta

    from django.utils import timezone

    endpoint.rotate()
    assert (
        deliver(
            payloads.github_workflow_run(branch="nope"), secret=SECRET, delivery="a"
        ).status_code
        == 202
    )
    assert (
        deliver(
            payloads.github_workflow_run(branch="nope"), secret=endpoint.secret, delivery="b"
        ).status_code
        == 202
    )
    endpoint.previous_valid_until = timezone.now() - timedelta(seconds=1)
    endpoint.save()
    assert (
        deliver(
            payloads.github_workflow_run(branch="nope"), secret=SECRET, delivery="c"
        ).status_code
        == 401
    )


@pytest.mark.django_db
def test_an_unknown_webhook_url_gets_404(client):
    body = json.dumps({"branch": "main", "status": "success"}).encode()
    response = client.post("/hooks/nope/", data=body, content_type="application/json")
    assert response.status_code == 404


@pytest.mark.django_db
def test_the_secret_is_stored_encrypted(endpoint):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM deploys_webhookendpoint WHERE id = %s", [endpoint.pk])
        (raw,) = cursor.fetchone()
    assert SECRET not in raw
    assert endpoint.masked_secret.endswith(SECRET[-4:])
