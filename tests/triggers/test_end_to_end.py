"""A green GitHub build is deployed by a real worker to the simulator."""

import json
import time

import pytest

from deploys.models import Deploy, State
from deploys.trigger_models import WebhookEndpoint
from tests import processes
from tests.triggers import payloads
from tests.triggers.conftest import SECRET, sign


@pytest.fixture
def worker(transactional_db, credential, heroku_sim, redis_up):
    process = processes.start(
        ["manage.py", "rqworker", "default", "--with-scheduler"],
        HEROKU_API_URL=heroku_sim.api_url,
        HEROKU_GIT_URL=heroku_sim.git_url,
        HEROKU_DATA_API_URL=heroku_sim.api_url,
        HEROKU_RENDEZVOUS_CA=heroku_sim.ca_path,
    )
    yield process
    processes.stop(process)


def wait_for(condition, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_a_green_build_is_deployed_by_a_worker(
    client, project, environment, git_repo, worker, heroku_sim
):
    endpoint = WebhookEndpoint.objects.create(project=project, secret=SECRET)
    sha = git_repo.head()
    body = json.dumps(payloads.github_workflow_run(branch="main", sha=sha))
    started = time.monotonic()
    response = client.post(
        endpoint.get_absolute_url(),
        data=body,
        content_type="application/json",
        headers={
            "X-GitHub-Event": "workflow_run",
            "X-GitHub-Delivery": "e2e-1",
            "X-Hub-Signature-256": f"sha256={sign(SECRET, body.encode())}",
        },
    )
    assert response.status_code == 202
    assert time.monotonic() - started < 1
    assert wait_for(lambda: Deploy.objects.get().state in (State.SUCCEEDED, State.FAILED))
    deploy = Deploy.objects.get()
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert heroku_sim.app_state()["pushes"][-1]["sha"] == sha
