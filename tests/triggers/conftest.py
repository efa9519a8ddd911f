import hashlib
import hmac
import json

import pytest

from deploys.trigger_models import WebhookEndpoint
from projects.models import Environment

SECRET = "s3cret-for-tests"


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def environments(project):
    """staging deploys develop and release-*, production deploys main (settings order)."""
    return [
        Environment.objects.create(
            project=project,
            name="staging",
            branch="/develop|release-.*/",
            app_name="foo-bar-staging",
            position=0,
        ),
        Environment.objects.create(
            project=project,
            name="production",
            branch="main, hotfix",
            app_name="foo-bar-123",
            position=1,
        ),
    ]


@pytest.fixture
def endpoint(project):
    return WebhookEndpoint.objects.create(project=project, secret=SECRET)


@pytest.fixture
def deliver(client, endpoint):
    """POST a webhook; `provider` chooses the headers a real CI would send."""

    def post(
        payload,
        provider="github",
        event="workflow_run",
        secret=SECRET,
        delivery="d-1",
        headers=None,
    ):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        sent = {
            "github": {
                "X-GitHub-Event": event,
                "X-GitHub-Delivery": delivery,
                "X-Hub-Signature-256": f"sha256={sign(secret, body)}",
                "User-Agent": "GitHub-Hookshot/abc123",
            },
            "circleci": {
                "circleci-event-type": event,
                "circleci-signature": f"v1={sign(secret, body)}",
                "User-Agent": "CircleCI-Webhook/1.0",
            },
            "gitlab": {
                "X-Gitlab-Event": event,
                "X-Gitlab-Token": secret,
                "X-Gitlab-Event-UUID": delivery,
            },
            "generic": {
                "X-Hub-Signature-256": f"sha256={sign(secret, body)}",
                "X-Herokucd-Delivery": delivery,
            },
        }[provider]
        sent.update(headers or {})
        return client.post(
            endpoint.get_absolute_url(), data=body, content_type="application/json", headers=sent
        )

    return post


# The deploy engine's fixtures: a project deploying to the simulator's app foo-bar-123.
from tests.deploys.conftest import credential, environment, queue, sim  # noqa: E402, F401
