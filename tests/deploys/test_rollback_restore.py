"""A rollback that knows the database: the confirmation offers the restore of the backup taken
before the migration since the chosen release, and the rollback restores it through Heroku
Postgres' data API, in maintenance with the workers at 0, whatever happens."""

import pytest
from django.urls import reverse

from deploys import jobs
from deploys.logformat import read_lines
from deploys.models import Deploy, State, Trigger
from deploys.services import request_deploy
from tests.heroku_sim.fixtures import APP

pytestmark = pytest.mark.django_db(transaction=True)


def deploy_now(environment, **options):
    deploy = request_deploy(environment, **options)
    jobs.run_deploy(deploy.pk)
    deploy.refresh_from_db()
    assert deploy.state == State.SUCCEEDED, deploy.reason
    return deploy


def migrating_deploys(environment, git_repo, alice, backup):
    """#1 without a migration, then #2 that migrates (after a backup when `backup`)."""
    git_repo.commit("app.txt", "one\n", "First")
    first = deploy_now(environment, user=alice)
    git_repo.commit("migrate.sh", 'echo "Applying migration 0042"\n', "Add a migration")
    environment.migration_command = "bash migrate.sh"
    environment.backup_before_migrate = backup
    environment.save()
    second = deploy_now(environment, user=alice)
    assert second.ran_migration and second.backup_name == ("b001" if backup else "")
    return first, second


@pytest.fixture
def backed_up(environment, git_repo, alice, sim):
    return migrating_deploys(environment, git_repo, alice, backup=True)


@pytest.fixture
def not_backed_up(environment, git_repo, alice, sim):
    return migrating_deploys(environment, git_repo, alice, backup=False)


def rollback_url(deploy):
    return reverse("deploy_rollback", args=[deploy.project.slug, deploy.number])


def restore_form(first, backup="b001", typed=APP):
    version = first.release_version
    return {
        "release": version,
        "app": APP,
        f"restore-{version}": backup,
        f"confirm-app-{version}": typed,
    }


def log_text(deploy) -> str:
    return "\n".join(line.text for line in read_lines(deploy, limit=10_000))


def formation(sim):
    return {kind: item["quantity"] for kind, item in sim.app_state()["formation"].items()}


def restored_from(sim):
    return [a["restored_from"] for a in sim.app_state()["addons"] if a["restored_from"]]


def test_the_confirmation_offers_the_backup_taken_before_the_migration(
    backed_up, client_for, alice
):
    first, second = backed_up
    text = " ".join(client_for(alice).get(rollback_url(second)).content.decode().split())
    assert "Deploy #2 ran a database migration</strong>" in text
    assert "herokucd took backup <code>b001</code> before it" in text
    assert (
        'Also restore the database from backup <strong class="mono">b001</strong> taken '
        "before deploy #2"
    ) in text
    assert f'name="confirm-app-{first.release_version}"' in text
    assert "Everything written to the database since b001 is lost." in text


def test_a_rollback_with_the_restore_restores_in_maintenance_then_rolls_back(
    backed_up, environment, sim, client_for, alice
):
    first, second = backed_up
    assert formation(sim)["worker"] == 2
    response = client_for(alice).post(rollback_url(second), restore_form(first))
    rollback = Deploy.objects.get(trigger=Trigger.ROLLBACK)
    assert response["Location"] == rollback.get_absolute_url()
    assert (rollback.restore_backup_name, rollback.restore_before) == ("b001", second)
    assert rollback.trigger_detail.endswith(", database restored from b001")
    events_before = len(sim.state()["events"])

    jobs.run_deploy(rollback.pk)
    rollback.refresh_from_db()

    assert rollback.state == State.SUCCEEDED, rollback.reason
    assert restored_from(sim) == ["b001"]
    app = sim.app_state()
    assert app["maintenance"] is False and formation(sim) == {"web": 1, "worker": 2}
    assert app["current_commit"] == first.sha
    calls = [(e["method"], e["path"], e["summary"]) for e in sim.state()["events"][events_before:]]
    order = [
        next(i for i, c in enumerate(calls) if c[0] == "PATCH" and "maintenance" in c[2]),
        next(i for i, c in enumerate(calls) if c[1].endswith("/formation")),
        next(i for i, c in enumerate(calls) if c[1].endswith("/restores")),
        next(i for i, c in enumerate(calls) if c[1].endswith("/releases")),
    ]
    assert order == sorted(order), calls
    steps = list(rollback.steps.values_list("name", "state"))
    assert steps == [
        ("maintenance_on", "succeeded"),
        ("scale_down", "succeeded"),
        ("restore", "succeeded"),
        ("rollback", "succeeded"),
        ("release_phase", "skipped"),  # the app's Procfile has no release command
        ("scale_back", "succeeded"),
        ("maintenance_off", "succeeded"),
    ]
    log = log_text(rollback)
    assert "Restore the database from backup b001 taken before deploy #2" in log
    assert "Restore r002 running" in log or "Restore r002 succeeded" in log
    assert "Restore r002 finished: the database is as b001 was." in log
    event = environment.project.audit_events.get(action="deploy.rolled_back")
    assert event.details["restore"] == "b001"


def test_a_restore_heroku_fails_leaves_the_app_out_of_maintenance_with_its_workers(
    backed_up, sim, client_for, alice
):
    first, second = backed_up
    sim.fault(f"RESTORE {APP}", message="pg_restore: out of disk space", count=1)
    client_for(alice).post(rollback_url(second), restore_form(first))
    rollback = Deploy.objects.get(trigger=Trigger.ROLLBACK)

    jobs.run_deploy(rollback.pk)
    rollback.refresh_from_db()

    assert rollback.state == State.FAILED
    assert "The restore of b001 failed on Heroku" in rollback.reason
    assert "out of disk space" in rollback.reason
    app = sim.app_state()
    assert app["maintenance"] is False
    assert formation(sim) == {"web": 1, "worker": 2}
    assert app["current_commit"] == second.sha  # the code stays with the database it knows
    assert restored_from(sim) == []
    steps = dict(rollback.steps.values_list("name", "state"))
    assert steps["restore"] == "failed" and steps["rollback"] == "skipped"
    assert steps["release_phase"] == "skipped"
    log = log_text(rollback)
    assert "Restore r002 failed" in log and "Maintenance mode off." in log
    assert "Scaled back to worker=2." in log


def test_a_restore_heroku_refuses_to_start_changes_nothing_it_cannot_undo(
    backed_up, sim, client_for, alice
):
    first, second = backed_up
    sim.fault(
        "POST /client/v11/databases/{addon_id}/restores", status=422, message="Plan too small."
    )
    client_for(alice).post(rollback_url(second), restore_form(first))
    rollback = Deploy.objects.get(trigger=Trigger.ROLLBACK)
    jobs.run_deploy(rollback.pk)
    rollback.refresh_from_db()
    assert rollback.state == State.FAILED and "Plan too small." in rollback.reason
    assert sim.app_state()["maintenance"] is False
    assert formation(sim) == {"web": 1, "worker": 2}


def test_without_a_backup_it_says_the_database_stays_and_why_that_may_break(
    not_backed_up, client_for, alice
):
    first, second = not_backed_up
    client = client_for(alice)
    text = " ".join(client.get(rollback_url(second)).content.decode().split())
    assert (
        "The database will not be changed: deploy #2 ran a migration and no backup was taken "
        "before it"
    ) in text
    assert "a table or column it expects may be gone or changed" in text
    assert 'name="restore-' not in text and "confirm-app-" not in text
    response = client.post(rollback_url(second), restore_form(first), follow=True)
    assert "No backup was taken before deploy #2" in response.content.decode()
    assert not Deploy.objects.filter(trigger=Trigger.ROLLBACK).exists()


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"typed": "foo-bar"}, "type the app name foo-bar-123 exactly; nothing was started"),
        ({"typed": ""}, "type the app name foo-bar-123 exactly; nothing was started"),
        ({"backup": "b999"}, "The backup to restore for v"),
    ],
)
def test_a_wrong_typed_confirmation_is_refused_with_nothing_changed(
    backed_up, sim, client_for, alice, form, message
):
    first, second = backed_up
    events_before = len(sim.state()["events"])
    response = client_for(alice).post(
        rollback_url(second), restore_form(first, **form), follow=True
    )
    assert message in response.content.decode()
    assert not Deploy.objects.filter(trigger=Trigger.ROLLBACK).exists()
    assert len(sim.state()["events"]) == events_before  # nothing asked of Heroku to change
    assert restored_from(sim) == []


def test_a_restore_ticked_under_another_release_is_refused(backed_up, client_for, alice):
    first, second = backed_up
    form = {**restore_form(first), "release": first.release_version - 1}
    response = client_for(alice).post(rollback_url(second), form, follow=True)
    assert "belongs to another release" in response.content.decode()
    assert not Deploy.objects.filter(trigger=Trigger.ROLLBACK).exists()


def test_an_app_with_only_web_dynos_is_restored_without_scaling(backed_up, sim, client_for, alice):
    first, second = backed_up
    sim.api(
        "PATCH", f"/apps/{APP}/formation", json={"updates": [{"type": "worker", "quantity": 0}]}
    )
    client_for(alice).post(rollback_url(second), restore_form(first))
    rollback = Deploy.objects.get(trigger=Trigger.ROLLBACK)
    jobs.run_deploy(rollback.pk)
    rollback.refresh_from_db()
    assert rollback.state == State.SUCCEEDED, rollback.reason
    assert restored_from(sim) == ["b001"]
    assert formation(sim) == {"web": 1, "worker": 0}
    assert "No process type to scale down." in log_text(rollback)


def delete_backup(sim, num=1):
    sim.api("DELETE", f"/client/v11/apps/{APP}/transfers/{num}").raise_for_status()


def test_a_backup_gone_from_heroku_is_refused_before_anything_starts(
    backed_up, sim, client_for, alice
):
    first, second = backed_up
    delete_backup(sim)
    response = client_for(alice).post(rollback_url(second), restore_form(first), follow=True)
    text = response.content.decode()
    assert "Backup b001 was not found for foo-bar-123: it may have expired." in text
    assert "The database cannot be restored; nothing was started." in text
    assert not Deploy.objects.filter(trigger=Trigger.ROLLBACK).exists()


def test_a_backup_gone_after_the_rollback_was_queued_fails_it_before_maintenance(
    backed_up, sim, client_for, alice
):
    first, second = backed_up
    client_for(alice).post(rollback_url(second), restore_form(first))
    rollback = Deploy.objects.get(trigger=Trigger.ROLLBACK)
    delete_backup(sim)
    events_before = len(sim.state()["events"])
    jobs.run_deploy(rollback.pk)
    rollback.refresh_from_db()
    assert rollback.state == State.FAILED
    assert "Backup b001 was not found for foo-bar-123" in rollback.reason
    changes = [e for e in sim.state()["events"][events_before:] if e["method"] != "GET"]
    assert not [e for e in changes if "/apps/" in e["path"] and e["method"] == "PATCH"]
    assert sim.app_state()["current_commit"] == second.sha
