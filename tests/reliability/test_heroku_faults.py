"""Heroku failing on each call a careful deploy makes (backup, maintenance, scaling, push,
migration dyno and its rendezvous, releases): 500, 503, 429 and slow answers, once each.

Whatever fails, the deploy either retries and succeeds, or fails with Heroku's message (never a
traceback) and leaves the app as it found it: maintenance off, worker=2 again.
"""

import time

import pytest

from deploys import jobs
from deploys.logformat import read_lines
from deploys.models import State
from deploys.services import request_deploy
from projects.models import MaintenanceMode

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGE = "Injected by the reliability suite: Heroku is having a bad day."
ROUTES = [
    "GET /apps/{app}",
    "PATCH /apps/{app}",
    "PATCH /apps/{app}/config-vars",
    "GET /apps/{app}/formation",
    "PATCH /apps/{app}/formation",
    "GET /apps/{app}/releases",
    "GET /apps/{app}/addons",
    "POST /client/v11/databases/{addon_id}/backups",
    "GIT /{app}.git",
    "POST /apps/{app}/dynos",
    "RENDEZVOUS",
]
FAULTS = {
    "500": {"status": 500},
    "503": {"status": 503},
    "429": {"status": 429},
    "slow": {"delay": 2},
}
# 503 on every call; the other faults on one call of each kind (app, formation, git, dyno):
# the client handles 429 and 503 alike, and this keeps the suite within its time budget.
CASES = [(route, "503") for route in ROUTES] + [
    (route, fault)
    for route in [
        "PATCH /apps/{app}",
        "PATCH /apps/{app}/formation",
        "GIT /{app}.git",
        "POST /apps/{app}/dynos",
    ]
    for fault in ["500", "429", "slow"]
]


@pytest.fixture
def careful(environment, git_repo, settings):
    git_repo.commit("migrate.sh", "echo migrated\n", "Add the migration")
    environment.maintenance_mode = MaintenanceMode.DEPLOY
    environment.maintenance_page_url = "https://example.com/maintenance.html"
    environment.scale_down_types = "worker"
    environment.migration_command = "bash migrate.sh"
    environment.migration_timeout = 30
    environment.backup_before_migrate = True
    environment.save()
    return environment


def deploy_now(environment):
    deploy = request_deploy(environment)
    jobs.run_deploy(deploy.pk)
    deploy.refresh_from_db()
    return deploy


def run_again_when_deferred(deploy, wait):
    """A 429 on git makes the deploy wait for Heroku's rate limit: run it when it may go on."""
    if deploy.state != State.QUEUED:
        return deploy
    assert "Waiting for Heroku's git rate limit" in log_text(deploy)
    time.sleep(wait + 0.2)
    jobs.run_deploy(deploy.pk)
    deploy.refresh_from_db()
    return deploy


def log_text(deploy):
    return "\n".join(line.text for line in read_lines(deploy, limit=10_000))


@pytest.mark.parametrize(("route", "fault"), CASES)
def test_a_deploy_survives_or_fails_cleanly_when_heroku_fails_once(
    careful, sim, route, fault, settings
):
    settings.HEROKU_GIT_BACKOFF = 1
    sim.fault(route, count=1, message=MESSAGE, **FAULTS[fault])
    deploy = run_again_when_deferred(deploy_now(careful), wait=1)
    app = sim.app_state()
    assert app["maintenance"] is False
    assert {k: v["quantity"] for k, v in app["formation"].items()} == {"web": 1, "worker": 2}
    assert "Traceback" not in deploy.reason
    if deploy.state == State.SUCCEEDED:
        assert [p["sha"] for p in app["pushes"]] == [deploy.sha]
    else:
        assert deploy.state == State.FAILED
        assert fault != "slow", f"a slow answer should not fail the deploy: {deploy.reason}"
        # Heroku's own message (git's too); a dropped rendezvous names the dyno.
        said = [MESSAGE, "Dyno run."]
        assert any(words in deploy.reason for words in said), deploy.reason


def test_git_refused_by_heroku_fails_the_deploy_with_herokus_message_and_status(careful, sim):
    sim.fault("GIT /{app}.git", count=1, message=MESSAGE, status=503)
    deploy = deploy_now(careful)
    assert deploy.state == State.FAILED
    assert deploy.reason == f"Heroku rejected the push (HTTP 503): {MESSAGE}"
