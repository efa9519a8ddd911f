"""The stale-deploy reaper and `manage.py fail_stale_deploys`."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from deploys.logformat import read_lines
from deploys.models import Deploy, State
from deploys.services import request_deploy
from tests.heroku_sim.fixtures import APP

pytestmark = pytest.mark.django_db(transaction=True)


def running_since(environment, seconds, **fields):
    deploy = request_deploy(environment)
    long_ago = timezone.now() - timedelta(seconds=seconds)
    Deploy.objects.filter(pk=deploy.pk).update(
        state=State.RUNNING, started_at=long_ago, heartbeat_at=long_ago, **fields
    )
    deploy.refresh_from_db()
    return deploy


def test_a_deploy_without_heartbeat_is_failed_and_its_changes_undone(environment, sim):
    sim.api("PATCH", f"/apps/{APP}", json={"maintenance": True}).raise_for_status()
    sim.api(
        "PATCH", f"/apps/{APP}/formation", json={"updates": [{"type": "worker", "quantity": 0}]}
    )
    deploy = running_since(
        environment, 120, cleanup_state={"maintenance": True, "formation": {"worker": 2}}
    )
    out = StringIO()
    call_command("fail_stale_deploys", stdout=out)
    deploy.refresh_from_db()
    assert deploy.state == State.FAILED
    assert deploy.reason.startswith("The worker running this deploy stopped responding")
    assert deploy.cleanup_state == {}
    assert "1 stale deploy(s) failed." in out.getvalue()
    app = sim.app_state()
    assert app["maintenance"] is False
    assert app["formation"]["worker"]["quantity"] == 2
    texts = [line.text for line in read_lines(deploy)]
    assert "Maintenance mode off." in texts
    # The app is free again: another deploy may now be claimed.
    assert not Deploy.objects.filter(app_name=APP, state=State.RUNNING).exists()


def test_a_deploy_with_a_recent_heartbeat_is_left_alone(environment, sim):
    deploy = running_since(environment, 5)
    call_command("fail_stale_deploys", stdout=StringIO())
    deploy.refresh_from_db()
    assert deploy.state == State.RUNNING


def test_a_cleanup_that_fails_is_named_in_the_reason(environment, sim):
    sim.fault("PATCH /apps/{app}", status=422, message="Nope.", count=99)
    deploy = running_since(environment, 120, cleanup_state={"maintenance": True})
    call_command("fail_stale_deploys", "--older-than", "60", stdout=StringIO())
    deploy.refresh_from_db()
    assert deploy.state == State.FAILED
    assert "Cleanup failed: the app is still in maintenance mode (Nope.)" in deploy.reason
