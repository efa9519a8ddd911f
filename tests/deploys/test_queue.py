"""The queue path with real `manage.py rqworker` processes, Redis and the simulator."""

import itertools
import os
import signal
import subprocess
import time
from pathlib import Path

import django_rq
import pytest
from django.core.management import call_command

from deploys.logformat import read_lines
from deploys.models import Deploy, State
from deploys.services import request_deploy
from herokucd.management.commands import serve
from projects.models import Environment, MaintenanceMode
from tests.deploys.conftest import sim_env
from tests.gitrepo import GitRepo
from tests.processes import start, stop

WORKER_ARGS = ["manage.py", *serve.worker_command()[2:]]  # the worker herokucd runs

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def workers(sim, redis_up):
    """Start `count` rqworker processes pointed at the simulator; stop them afterwards."""
    started = []
    empty_queue()

    def start_workers(count=1):
        env = sim_env(sim, DEPLOY_STALE_SECONDS="3")
        for _ in range(count):
            started.append(start(WORKER_ARGS, **env))
        return started[-count:]

    yield start_workers
    for process in started:
        stop(process)


def empty_queue():
    """Jobs left by earlier tests name deploy ids that may be reused: drop them."""
    queue = django_rq.get_queue("default")
    queue.empty()
    for job_id in queue.scheduled_job_registry.get_job_ids():
        queue.scheduled_job_registry.remove(job_id, delete_job=True)
    # A worker killed by an earlier test holds the scheduler lock until it expires.
    for key in queue.connection.scan_iter("rq:scheduler-lock:*"):
        queue.connection.delete(key)


def wait_for(predicate, timeout=60, what="it"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def finished(deploy, timeout=60):
    def done():
        deploy.refresh_from_db()
        return deploy.is_finished

    wait_for(done, timeout, f"deploy #{deploy.number} to finish")
    return deploy


def children(pid) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(p) for p in (task / "children").read_text().split()}
    return found


def test_a_deploy_runs_on_a_worker_and_no_secret_reaches_the_log_or_redis(
    environment, workers, sim
):
    environment.pre_deploy_commands = (
        'echo "key=$HEROKU_API_KEY"\n'
        "echo -n $HEROKU_API_KEY | base64\n"
        "cat ~/.netrc; ls -l ~/.netrc\n"
        "heroku --version >/dev/null 2>&1 || true"
    )
    environment.save()
    workers(1)
    deploy = finished(request_deploy(environment))
    assert deploy.state == State.SUCCEEDED, deploy.reason
    text = "\n".join(line.text for line in read_lines(deploy, limit=10_000))
    assert "key=[redacted]" in text
    assert "password [redacted]" in text
    assert "-rw-------" in text
    assert sim.api_key not in text
    assert_no_secret_in_redis(sim.api_key, deploy)


def assert_no_secret_in_redis(secret, deploy):
    connection = django_rq.get_connection("default")
    job_keys = [key for key in connection.scan_iter("rq:job:*") if b":" not in key[7:]]
    seen = []
    for key in job_keys:
        job = django_rq.get_queue("default").fetch_job(key.decode().removeprefix("rq:job:"))
        if job is None or job.func_name != "deploys.jobs.run_deploy":
            continue
        seen.append(job.args)
        assert job.kwargs == {}
        assert secret not in f"{job.description}{job.meta}{job.exc_info}"
        assert job.timeout and job.timeout > 0
    assert (deploy.pk,) in seen, "the deploy's job should still be in Redis"
    for key in connection.scan_iter("*"):
        if connection.type(key) == b"hash":
            assert secret.encode() not in b"".join(connection.hgetall(key).values())
        elif connection.type(key) == b"string":
            assert secret.encode() not in (connection.get(key) or b"")


def test_a_warm_deploy_pushes_from_the_repository_the_project_names_now(
    environment, workers, sim, git_repo, tmp_path
):
    # The work horse starts fetching a cloned mirror before it reads the deploy: when the
    # project's repository moved since, that fetch is dropped and the new one fetched.
    workers(1)
    assert finished(request_deploy(environment)).state == State.SUCCEEDED
    subprocess.run(["git", "clone", "-q", str(git_repo.path), str(tmp_path / "moved")], check=True)
    moved = GitRepo(tmp_path / "moved")
    moved.commit("app.py", "print('moved')\n", "Only in the new repository")
    environment.project.repository_url = str(moved.path)
    environment.project.save()
    deploy = finished(request_deploy(environment))
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert deploy.sha == moved.head()
    assert sim.app_state()["current_commit"] == moved.head()


def test_20_deploys_requested_at_once_for_one_app_never_overlap(environment, workers):
    environments = [environment] + [
        Environment.objects.create(
            project=environment.project,
            name=f"env{n}",
            branch="main",
            app_name=environment.app_name,
        )
        for n in range(19)
    ]
    deploys = [request_deploy(env) for env in environments]
    workers(2)
    for deploy in deploys:
        finished(deploy, timeout=120)
    runs = sorted(Deploy.objects.filter(pk__in=[d.pk for d in deploys]), key=lambda d: d.started_at)
    assert all(d.state == State.SUCCEEDED for d in runs), [d.reason for d in runs]
    for before, after in itertools.pairwise(runs):
        assert before.finished_at <= after.started_at
    assert [d.number for d in runs] == sorted(d.number for d in runs)


def test_a_newer_queued_deploy_supersedes_an_older_one(environment):
    first = request_deploy(environment)
    second = request_deploy(environment)
    first.refresh_from_db()
    assert first.state == State.CANCELED
    assert first.reason == f"superseded by #{second.number}"
    assert second.state == State.QUEUED


@pytest.fixture
def migrating(environment, git_repo):
    environment.maintenance_mode = MaintenanceMode.DEPLOY
    environment.scale_down_types = "worker"
    environment.migration_command = "echo migrating; sleep 60"
    environment.migration_timeout = 120
    environment.save()
    return environment


def wait_until_migrating(deploy):
    # Planned steps exist from the start: wait for the migration to have started.
    started = deploy.steps.filter(name="migrate").exclude(started_at=None)
    wait_for(started.exists, 60, "the migration")


def test_a_killed_work_horse_fails_the_deploy_cleans_up_and_frees_the_app(migrating, workers, sim):
    (worker,) = workers(1)
    deploy = request_deploy(migrating)
    wait_until_migrating(deploy)
    deploy.refresh_from_db()
    horse = int(deploy.worker_name.rpartition(":")[2])  # the process that claimed it
    assert horse in children(worker.pid)
    os.kill(horse, signal.SIGKILL)
    finished(deploy, timeout=30)
    assert deploy.state == State.FAILED, deploy.reason
    assert deploy.reason.startswith(
        "The worker process running this deploy died (killed by signal 9)"
    ), deploy.reason
    app = sim.app_state()
    assert app["maintenance"] is False
    assert app["formation"]["worker"]["quantity"] == 2
    migrating.migration_command = ""
    migrating.save()
    assert finished(request_deploy(migrating)).state == State.SUCCEEDED


def test_the_deploy_queued_behind_a_killed_one_starts_on_the_restored_app(migrating, workers, sim):
    # Two workers: the second could claim the next deploy the moment the dead one freed the
    # app. It is freed only once its changes are undone, so the next deploy scales down from,
    # and back to, the app's own formation, and switches maintenance off at its end.
    workers(2)
    deploy = request_deploy(migrating)
    wait_until_migrating(deploy)
    migrating.migration_command = "echo migrating"
    migrating.save()
    following = request_deploy(migrating)
    deploy.refresh_from_db()
    horse = int(deploy.worker_name.rpartition(":")[2])
    os.kill(horse, signal.SIGKILL)
    assert finished(deploy, timeout=30).state == State.FAILED
    assert finished(following).state == State.SUCCEEDED, following.reason
    texts = [line.text for line in read_lines(following)]
    assert "Scale worker to 0" in texts
    assert "Scaled back to worker=2." in texts
    app = sim.app_state()
    assert app["maintenance"] is False
    assert app["formation"]["worker"]["quantity"] == 2


def test_a_killed_worker_is_reaped_by_the_command_and_the_next_deploy_runs(migrating, workers, sim):
    (worker,) = workers(1)
    deploy = request_deploy(migrating)
    wait_until_migrating(deploy)
    # The work horse runs in a process group of its own: kill it with the worker, as a host
    # losing power would.
    for pid in children(worker.pid):
        os.kill(pid, signal.SIGKILL)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    migrating.migration_command = ""
    migrating.save()
    following = request_deploy(migrating)
    time.sleep(3.5)
    call_command("fail_stale_deploys", older_than=3)
    deploy.refresh_from_db()
    assert deploy.state == State.FAILED
    assert sim.app_state()["maintenance"] is False
    assert sim.app_state()["formation"]["worker"]["quantity"] == 2
    workers(1)
    assert finished(following).state == State.SUCCEEDED
