"""The stale-deploy reaper and `manage.py fail_stale_deploys`, and the notifications it sends."""

import re
import socket
from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from rq import SimpleWorker

from deploys import jobs, reaper
from deploys.logformat import read_lines
from deploys.models import Deploy, State, StepState
from deploys.pipeline import undo_changes
from deploys.services import request_deploy
from deploys.trigger_models import NotificationDelivery, NotificationTarget
from projects.models import MaintenanceMode
from tests.deploys.factories import make_steps
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
    make_steps(deploy, [StepState.SUCCEEDED, StepState.RUNNING])  # died while migrating
    out = StringIO()
    call_command("fail_stale_deploys", stdout=out)
    deploy.refresh_from_db()
    assert deploy.state == State.FAILED
    assert [step.state for step in deploy.steps.all()] == [StepState.SUCCEEDED, StepState.FAILED]
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


def test_a_reaped_deploy_says_where_it_left_the_app_like_one_that_ended_itself(
    environment, sim, client_for, alice
):
    sim.api(
        "PATCH", f"/apps/{APP}/formation", json={"updates": [{"type": "worker", "quantity": 0}]}
    )
    deploy = running_since(
        environment, 120, cleanup_state={"formation": {"worker": 2}}, ran_migration=True
    )
    call_command("fail_stale_deploys", stdout=StringIO())
    deploy.refresh_from_db()
    live = sim.app_state()["releases"][-1]
    assert deploy.end_state["maintenance"] is False
    assert deploy.end_state["formation"] == {"web": 1, "worker": 2}
    assert deploy.end_state["release"]["version"] == live["version"]
    assert deploy.end_state["migration"]["outcome"] == "unknown"
    page = client_for(alice).get(deploy.get_absolute_url()).content.decode()
    page = re.sub(r"<[^>]+>", "", page)  # the words a person reads
    assert "Processes: web=1, worker=2." in page
    assert "The migration ran but its end is unknown (the worker died)" in page


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


# Notifications: a deploy the reaper fails is a failed deploy like any other.


def subscribe(environment, address, **wants):
    return NotificationTarget.objects.create(
        environment=environment, kind=NotificationTarget.EMAIL, address=address, **wants
    )


def deliver_notifications(queue):
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def test_a_reaped_deploy_notifies_who_wants_failures_once_with_its_reason(environment, sim, queue):
    subscribe(environment, "failures@example.com")
    subscribe(environment, "successes@example.com", on_failed=False, on_succeeded=True)
    sim.fault("PATCH /apps/{app}", status=422, message="Nope.", count=99)
    deploy = running_since(environment, 120, cleanup_state={"maintenance": True})
    queue.empty()  # the deploy's own job: the row says it runs
    # Two reapers that both saw it stale: only the one whose UPDATE claimed it notifies.
    limit = timezone.now() - timedelta(seconds=60)
    first, second = Deploy.objects.get(pk=deploy.pk), Deploy.objects.get(pk=deploy.pk)
    assert [reaper.fail_stale(first, limit), reaper.fail_stale(second, limit)] == [True, False]
    call_command("fail_stale_deploys", stdout=StringIO())
    deliver_notifications(queue)

    (email,) = mail.outbox
    assert email.to == ["failures@example.com"]
    assert email.subject == f"Deploy #{deploy.number} of Foo Bar to production failed"
    # Sent after the cleanup: the reason names what it could not undo.
    assert (
        "Why: The worker running this deploy stopped responding (last heartbeat at " in email.body
    )
    assert "Cleanup failed: the app is still in maintenance mode (Nope.)" in email.body
    delivery = NotificationDelivery.objects.get()
    assert (delivery.event, delivery.status, delivery.attempt) == ("failed", "delivered", 1)


def test_a_dead_work_horse_s_deploy_notifies_with_how_it_died(environment, sim, queue):
    subscribe(environment, "failures@example.com")
    deploy = running_since(environment, 1, worker_name="host:4242")
    queue.empty()
    assert reaper.fail_dead_worker(deploy.pk, "host:4242", "killed by signal 9") is not None
    assert reaper.fail_dead_worker(deploy.pk, "host:4242", "killed by signal 9") is None
    deliver_notifications(queue)
    (email,) = mail.outbox
    assert "Why: The worker process running this deploy died (killed by signal 9)" in email.body


def test_the_reaper_fails_and_cleans_up_while_redis_is_unreachable(
    environment, sim, queue, settings, caplog
):
    subscribe(environment, "failures@example.com")
    sim.api("PATCH", f"/apps/{APP}", json={"maintenance": True}).raise_for_status()
    deploy = running_since(environment, 120, cleanup_state={"maintenance": True})
    queue.empty()
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings.RQ_QUEUES = {"default": {"URL": f"redis://127.0.0.1:{port}/0"}}

    out = StringIO()
    call_command("fail_stale_deploys", stdout=out)
    deploy.refresh_from_db()
    assert deploy.state == State.FAILED
    assert deploy.cleanup_state == {}
    assert sim.app_state()["maintenance"] is False
    assert "1 stale deploy(s) failed." in out.getvalue()
    assert f"Could not send the notifications of deploy {deploy.pk}" in caplog.text
    assert not NotificationDelivery.objects.exists()


# The app stays held while the reaper cleans up: its next deploy must not start on top of the
# dead deploy's changes (maintenance on, workers at zero) and record them as the app's own.


def test_a_dead_deploy_holds_its_app_until_cleaned_up_and_the_next_deploy_finds_it_restored(
    environment, sim, queue, git_repo, monkeypatch
):
    git_repo.commit("migrate.sh", "echo migrated\n", "Add the migration")
    environment.maintenance_mode = MaintenanceMode.DEPLOY
    environment.scale_down_types = "worker"
    environment.migration_command = "bash migrate.sh"
    environment.save()
    sim.api("PATCH", f"/apps/{APP}", json={"maintenance": True}).raise_for_status()
    sim.api(
        "PATCH", f"/apps/{APP}/formation", json={"updates": [{"type": "worker", "quantity": 0}]}
    ).raise_for_status()
    dead = running_since(
        environment,
        120,
        worker_name="lost-host:4242",
        cleanup_state={"maintenance": True, "formation": {"worker": 2}},
    )
    following = request_deploy(environment)
    queue.empty()
    during_cleanup = {}

    def undo_while_the_next_deploy_tries(deploy, client, writer):
        dead.refresh_from_db()
        during_cleanup["dead"] = (dead.state, dead.reason)
        during_cleanup["claim"] = jobs.claim(following)
        during_cleanup["run"] = jobs.run_deploy(following.pk)
        return undo_changes(deploy, client, writer)

    monkeypatch.setattr(reaper, "undo_changes", undo_while_the_next_deploy_tries)
    assert reaper.fail_stale_deploys(app_name=APP) == [dead]

    # Meanwhile the dead deploy was still running, said why, and the next one had to wait.
    state, reason = during_cleanup["dead"]
    assert state == State.RUNNING
    assert reason.startswith("The worker running this deploy stopped responding")
    assert reason.endswith("herokucd is undoing its changes on the app, then fails the deploy.")
    assert during_cleanup["claim"] is None
    assert during_cleanup["run"] == "waiting for the app"
    following.refresh_from_db()
    assert following.state == State.QUEUED

    dead.refresh_from_db()
    assert dead.state == State.FAILED
    assert dead.reason.endswith("herokucd marked the deploy failed.")
    assert jobs.run_deploy(following.pk) == "done"
    following.refresh_from_db()
    assert following.state == State.SUCCEEDED, following.reason
    # It scaled down from, and back to, the app's own formation, with maintenance off after.
    texts = [line.text for line in read_lines(following)]
    assert "Scaled back to worker=2." in texts
    app = sim.app_state()
    assert app["maintenance"] is False
    assert app["formation"]["worker"]["quantity"] == 2


def test_a_deploy_being_cleaned_up_is_not_taken_by_another_reaper(environment, sim, queue):
    dead = running_since(
        environment, 120, worker_name="lost-host:4242", cleanup_state={"maintenance": True}
    )
    queue.empty()
    limit = timezone.now() - timedelta(seconds=60)
    second = Deploy.objects.get(pk=dead.pk)  # a second reaper saw it stale too
    taken = {}

    def second_reaper(deploy, client, writer):
        taken["by the second"] = reaper.fail_stale(second, limit)
        taken["dead worker"] = reaper.fail_dead_worker(dead.pk, "lost-host:4242", "killed")
        return undo_changes(deploy, client, writer)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reaper, "undo_changes", second_reaper)
        assert reaper.fail_stale(dead, limit) is True
    assert taken == {"by the second": False, "dead worker": None}
    dead.refresh_from_db()
    assert dead.state == State.FAILED
    assert dead.cleanup_state == {}


def test_a_worker_judged_dead_that_comes_back_leaves_its_deploy_to_the_reaper(environment, sim):
    # The reaper took the deploy over (its name on it) and cleans up: the worker, back from a
    # long pause, must not end it and free the app under the cleanup.
    from deploys.pipeline import finish_deploy

    deploy = running_since(environment, 120, worker_name="reaper-host:1")
    finish_deploy(deploy, State.SUCCEEDED, "")
    deploy.refresh_from_db()
    assert deploy.state == State.RUNNING and deploy.worker_name == "reaper-host:1"
