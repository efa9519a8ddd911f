"""A rollback locks its environment (unless set off), against the simulator."""

import pytest

from deploys import gates, jobs
from deploys.models import Deploy, State, Trigger
from projects.models import EnvironmentLock
from tests.deploys.test_live import rollback_url, three_deploys  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_rollback_locks_its_environment_so_the_next_build_does_not_undo_it(
    three_deploys,  # noqa: F811
    environment,
    client_for,
    alice,
):
    first, _, third = three_deploys
    page = client_for(alice).get(rollback_url(third)).content.decode()
    assert "Afterwards production is locked, so its next green build does not undo" in page
    client_for(alice).post(rollback_url(third), {"release": first.release_version})
    rollback = Deploy.objects.get(trigger=Trigger.ROLLBACK)
    lock = EnvironmentLock.objects.get(environment=environment)
    assert lock.by_rollback and lock.locked_by == alice
    assert lock.reason == (
        f"Rolled back to v{first.release_version} by deploy #{rollback.number}: unlock when "
        "the fix is ready."
    )
    assert gates.check(environment, trigger=Trigger.WEBHOOK).held
    jobs.run_deploy(rollback.pk)  # the lock does not hold the rollback itself
    rollback.refresh_from_db()
    assert rollback.state == State.SUCCEEDED, rollback.reason
    locked = environment.project.audit_events.get(action="environment.locked")
    assert locked.details["reason"] == lock.reason


def test_a_rollback_does_not_lock_when_set_off(three_deploys, environment, client_for, alice):  # noqa: F811
    environment.lock_after_rollback = False
    environment.save()
    first, _, third = three_deploys
    page = client_for(alice).get(rollback_url(third)).content.decode()
    assert "Afterwards production is locked" not in page
    client_for(alice).post(rollback_url(third), {"release": first.release_version})
    assert Deploy.objects.filter(trigger=Trigger.ROLLBACK).exists()
    assert not EnvironmentLock.objects.exists()
