"""The stale-deploy reaper and `manage.py fail_stale_deploys`, and the notifications it sends."""

import socket
from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from rq import SimpleWorker

from deploys import reaper
from deploys.logformat import read_lines
from deploys.models import Deploy, State
from deploys.services import request_deploy
from deploys.trigger_models import NotificationDelivery, NotificationTarget
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
