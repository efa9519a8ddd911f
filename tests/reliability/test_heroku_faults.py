"""Heroku failing on each call a careful deploy makes (backup, maintenance, scaling, push,
migration dyno and its rendezvous, releases): 500, 503, 429 and slow answers, once each.

Whatever fails, the deploy either retries and succeeds, or fails with Heroku's message (never a
traceback) and leaves the app as it found it: maintenance off, worker=2 again.
"""

import pytest

from deploys import jobs
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


@pytest.mark.parametrize(("route", "fault"), CASES)
def test_a_deploy_survives_or_fails_cleanly_when_heroku_fails_once(careful, sim, route, fault):
    sim.fault(route, count=1, message=MESSAGE, **FAULTS[fault])
    deploy = deploy_now(careful)
    app = sim.app_state()
    assert app["maintenance"] is False
    assert {k: v["quantity"] for k, v in app["formation"].items()} == {"web": 1, "worker": 2}
    assert "Traceback" not in deploy.reason
    if deploy.state == State.SUCCEEDED:
        assert [p["sha"] for p in app["pushes"]] == [deploy.sha]
    else:
        assert deploy.state == State.FAILED
        assert fault != "slow", f"a slow answer should not fail the deploy: {deploy.reason}"
        # Heroku's own message; git shows only the HTTP status; a dropped rendezvous, the dyno.
        said = [MESSAGE, f"error: {FAULTS[fault].get('status')}", "Dyno run."]
        assert any(words in deploy.reason for words in said), deploy.reason
