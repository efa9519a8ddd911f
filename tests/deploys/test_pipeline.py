"""The pipeline against the simulator, run in the test process (the queue has its own tests)."""

import pytest

from deploys import jobs
from deploys.logformat import read_lines
from deploys.models import State
from deploys.services import request_deploy

pytestmark = pytest.mark.django_db(transaction=True)


def deploy_now(environment, **options):
    deploy = request_deploy(environment, **options)
    jobs.run_deploy(deploy.pk)
    deploy.refresh_from_db()
    return deploy


def log_text(deploy):
    return "\n".join(line.text for line in read_lines(deploy, limit=100_000))


def test_a_deploy_pushes_the_branch_head_and_records_the_release(environment, git_repo, sim):
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    app = sim.app_state()
    assert app["current_commit"] == git_repo.head()
    assert deploy.sha == git_repo.head()
    assert deploy.release_version == app["releases"][-1]["version"]
    assert "Released v" in log_text(deploy)
    assert [s.name for s in deploy.steps.all()] == ["checkout", "push"]
