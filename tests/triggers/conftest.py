import hashlib
import hmac
import json

import django_rq
import pytest

from deploys.trigger_models import WebhookEndpoint, hash_token
from projects.models import Environment
from tests.conftest import store_heroku_key
from tests.heroku_sim.fixtures import APP

SECRET = "s3cret-for-tests"
GITLAB_TOKEN = "gitlab-token-for-tests"


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
    return WebhookEndpoint.objects.create(
        project=project,
        secret=SECRET,
        gitlab_token_hash=hash_token(GITLAB_TOKEN),
        gitlab_token_hint=GITLAB_TOKEN[-4:],
    )


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
        gitlab_token=GITLAB_TOKEN,
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
                "X-Gitlab-Token": gitlab_token,
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


@pytest.fixture
def redis_up(settings):
    """The embedded Redis stops after 10 s without clients: make sure it runs for this test."""
    if settings.EMBEDDED_REDIS:
        from herokucd.embedded_redis import ensure_running

        ensure_running(settings.DATA_DIR)


@pytest.fixture
def queue(redis_up):
    """The RQ queue, emptied before and after the test."""
    queue = django_rq.get_queue("default")
    queue.empty()
    yield queue
    queue.empty()


def point_at(sim, settings):
    settings.HEROKU_API_URL = settings.HEROKU_DATA_API_URL = sim.api_url
    settings.HEROKU_GIT_URL = sim.git_url
    settings.HEROKU_RENDEZVOUS_CA = sim.ca_path
    return sim


@pytest.fixture
def credential(project, heroku_sim, settings, alice):
    """alice's project deploys with the simulator's key."""
    point_at(heroku_sim, settings)
    return store_heroku_key(project, heroku_sim.api_key, alice)


@pytest.fixture
def environment(project, credential):
    return Environment.objects.create(
        project=project, name="production", branch="main", app_name=APP
    )
