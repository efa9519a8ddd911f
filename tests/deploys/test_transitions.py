"""Each state change of a deploy is one method (docs/deploys.md): it wins once, loses once the
row moved on, and marks the project's pages changed only when it won."""

import pytest
from django.db.models import Q

from deploys import app_lock
from deploys.models import Deploy, Phase, State, StepState
from projects import pagecache
from tests.deploys.factories import make_deploy, make_environment, make_steps

pytestmark = pytest.mark.django_db

WORKER = "host:1"


@pytest.fixture
def touched(monkeypatch):
    """The project ids whose pages were marked changed, in order."""
    calls = []
    monkeypatch.setattr(pagecache, "touch", calls.append)
    return calls


def queued(project, **extra):
    return make_deploy(project, state=State.QUEUED, **extra)


def running(project, **extra):
    return make_deploy(project, state=State.RUNNING, worker_name=WORKER, **extra)


def state_of(deploy):
    return Deploy.objects.get(pk=deploy.pk).state


def test_claim_wins_once(project, touched):
    deploy = queued(project)
    touched.clear()
    nobody_older = app_lock.same_app_waiting_before()
    assert deploy.claim(WORKER, nobody_older) is True
    assert (deploy.state, deploy.worker_name) == (State.RUNNING, WORKER)
    assert deploy.started_at is not None
    assert touched == [project.pk]
    assert Deploy.objects.get(pk=deploy.pk).claim("host:2", nobody_older) is False
    assert touched == [project.pk]


def test_claim_waits_while_another_deploy_of_the_app_runs(project, touched):
    environment = make_environment(project)
    running(project, environment=environment)
    deploy = queued(project, environment=environment)
    touched.clear()
    assert deploy.claim(WORKER, app_lock.same_app_waiting_before()) is None
    assert state_of(deploy) == State.QUEUED
    assert touched == []


def test_defer_puts_a_running_deploy_back_once(project, touched):
    deploy = running(project)
    touched.clear()
    assert deploy.defer() is True
    assert (state_of(deploy), deploy.worker_name) == (State.QUEUED, "")
    assert deploy.defer() is False
    assert touched == [project.pk]


def test_finish_ends_only_the_workers_own_deploy(project, touched):
    deploy = running(project)
    touched.clear()
    assert deploy.finish(State.FAILED, "Heroku said no", "host:2") is False
    assert touched == []
    assert deploy.finish(State.FAILED, "Heroku said no", WORKER) is True
    assert (deploy.state, deploy.reason, deploy.notify_pending) == (
        State.FAILED,
        "Heroku said no",
        True,
    )
    assert deploy.finish(State.SUCCEEDED, "", WORKER) is False
    assert touched == [project.pk]


def test_take_over_then_fail_cleaned_up(project, touched):
    deploy = running(project)
    make_steps(deploy, [StepState.SUCCEEDED, StepState.RUNNING, StepState.PENDING])
    touched.clear()
    assert deploy.take_over("reaper:1", "It died.", Q(worker_name="host:2")) is False
    assert deploy.take_over("reaper:1", "It died.", Q(worker_name=WORKER)) is True
    deploy.refresh_from_db()
    assert (deploy.state, deploy.phase, deploy.worker_name) == (
        State.RUNNING,
        Phase.CLEANING_UP,
        "reaper:1",
    )
    assert deploy.fail_cleaned_up(WORKER, "It died; failed.") is False  # not its reaper
    assert deploy.fail_cleaned_up("reaper:1", "It died; failed.") is True
    assert (deploy.state, deploy.phase, deploy.reason) == (State.FAILED, "", "It died; failed.")
    steps = list(deploy.steps.values_list("state", flat=True))
    assert steps == [StepState.SUCCEEDED, StepState.FAILED, StepState.SKIPPED]
    assert deploy.fail_cleaned_up("reaper:1", "again") is False
    assert touched == [project.pk, project.pk]


def test_fail_queued_ends_only_a_queued_deploy(project, touched):
    deploy, ran = queued(project), running(project)
    touched.clear()
    assert deploy.fail_queued("Not deployed: no key.") is True
    assert (deploy.state, deploy.notify_pending) == (State.FAILED, True)
    assert deploy.fail_queued("again") is False
    assert ran.fail_queued("no") is False
    assert touched == [project.pk]


def test_cancel_ends_a_queued_deploy_and_its_planned_steps(project, touched):
    deploy = queued(project)
    make_steps(deploy, [StepState.PENDING])
    touched.clear()
    assert deploy.cancel("Canceled by alice.") is True
    assert deploy.state == State.CANCELED
    assert list(deploy.steps.values_list("state", flat=True)) == [StepState.CANCELED]
    assert deploy.cancel("again") is False
    assert touched == [project.pk]


def test_request_cancel_asks_only_a_running_deploy(project, touched):
    deploy, waiting = running(project), queued(project)
    touched.clear()
    assert deploy.request_cancel("Canceled by alice.") is True
    assert (deploy.state, deploy.cancel_requested) == (State.RUNNING, True)
    assert waiting.request_cancel("no") is False
    assert touched == [project.pk]


def test_supersede_cancels_the_older_queued_deploys_of_the_environment(project, touched):
    environment = make_environment(project)
    older = queued(project, environment=environment)
    other = queued(project, environment=make_environment(project, name="other", app_name="x-2"))
    newer = queued(project, environment=environment)
    touched.clear()
    assert Deploy.objects.supersede_queued(newer) == 1
    assert state_of(older) == State.CANCELED
    assert Deploy.objects.get(pk=older.pk).reason == f"superseded by #{newer.number}"
    assert [state_of(other), state_of(newer)] == [State.QUEUED, State.QUEUED]
    assert Deploy.objects.supersede_queued(newer) == 0
    assert touched == [project.pk]


def test_supersede_ends_the_planned_steps_of_a_deploy_back_in_the_queue(project):
    # A deploy waiting for Heroku's git rate limit is queued with its planned steps: once
    # superseded, its page must not show them as still to come.
    environment = make_environment(project)
    deferred = queued(project, environment=environment)
    make_steps(deferred, [StepState.PENDING, StepState.PENDING])
    ran = running(project, environment=make_environment(project, name="other", app_name="x-2"))
    make_steps(ran, [StepState.RUNNING, StepState.PENDING])
    newer = queued(project, environment=environment)
    assert Deploy.objects.supersede_queued(newer) == 1
    assert list(deferred.steps.values_list("state", flat=True)) == [StepState.CANCELED] * 2
    steps_of_running = list(ran.steps.order_by("position").values_list("state", flat=True))
    assert steps_of_running == [StepState.RUNNING, StepState.PENDING]


def test_record_marks_the_pages_changed_and_cleanup_state_does_not(project, touched):
    deploy = running(project)
    touched.clear()
    deploy.keep_cleanup_state({"maintenance": True})
    assert touched == []
    deploy.record(release_version=12)
    assert Deploy.objects.get(pk=deploy.pk).release_version == 12
    assert touched == [project.pk]


def test_approve_start_moves_a_waiting_deploy_to_the_queue_once(project, touched):
    deploy = make_deploy(project, state=State.WAITING)
    touched.clear()
    assert deploy.approve_start() is True
    assert state_of(deploy) == State.QUEUED
    assert Deploy.objects.get(pk=deploy.pk).approve_start() is False
    assert touched == [project.pk]


def test_end_waiting_cancels_only_a_waiting_deploy(project, touched):
    deploy = make_deploy(project, state=State.WAITING)
    other = queued(project)
    touched.clear()
    assert deploy.end_waiting("Rejected by bob: no") is True
    assert (deploy.state, deploy.reason) == (State.CANCELED, "Rejected by bob: no")
    assert deploy.end_waiting("again") is False
    assert other.end_waiting("not waiting") is False
    assert state_of(other) == State.QUEUED
    assert touched == [project.pk]


def test_a_newer_deploy_supersedes_a_waiting_one(project, touched):
    environment = make_environment(project)
    waiting = make_deploy(project, environment=environment, state=State.WAITING)
    newer = make_deploy(project, environment=environment, state=State.WAITING)
    assert Deploy.objects.supersede_queued(newer) == 1
    assert state_of(waiting) == State.CANCELED and state_of(newer) == State.WAITING
