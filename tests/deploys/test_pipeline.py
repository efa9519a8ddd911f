"""The pipeline against the simulator, run in the test process (the queue has its own tests).

Every test deploys a real git repository to the simulated app `foo-bar-123` (web=1, worker=2,
Postgres) over HTTPS git; the migration runs in a real one-off dyno through rendezvous.
"""

import http.server
import shutil
import threading
import time
from pathlib import Path

import pytest
from django.db import connection

from deploys import jobs
from deploys.logformat import read_lines
from deploys.models import Deploy, State, StepState
from deploys.services import cancel_deploy, request_deploy
from projects.models import MaintenanceMode
from tests.cache_servers import app_redis  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)

MIGRATE_SH = 'echo "Applying migration 0042 to $DYNO"\necho "Migrations done"\n'


def deploy_now(environment, **options):
    deploy = request_deploy(environment, **options)
    jobs.run_deploy(deploy.pk)
    deploy.refresh_from_db()
    return deploy


def log_text(deploy):
    return "\n".join(line.text for line in read_lines(deploy, limit=100_000))


def configure(environment, **options):
    for name, value in options.items():
        setattr(environment, name, value)
    environment.save()
    return environment


def app_formation(sim):
    return {kind: item["quantity"] for kind, item in sim.app_state()["formation"].items()}


def ran_steps(deploy):
    """The steps that started, in order (planned steps not reached end skipped)."""
    return [s.name for s in deploy.steps.exclude(state__in=[StepState.SKIPPED, "canceled"])]


def event_summaries(sim):
    return [f"{e['method']} {e['path']} {e['summary']}" for e in sim.state()["events"]]


@pytest.fixture
def repo(git_repo):
    git_repo.commit("migrate.sh", MIGRATE_SH, "Add the migration")
    return git_repo


@pytest.fixture
def careful(environment, repo):
    """Everything around a migration switched on: the production settings users set up."""
    return configure(
        environment,
        maintenance_mode=MaintenanceMode.DEPLOY,
        maintenance_page_url="https://example.com/maintenance.html",
        scale_down_types="worker, clock",
        migration_command="bash migrate.sh",
        migration_timeout=30,
        backup_before_migrate=True,
    )


class HealthServer(http.server.ThreadingHTTPServer):
    status = 200
    body = b"all good"


class HealthHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(self.server.status)
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def health():
    server = HealthServer(("127.0.0.1", 0), HealthHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/health"
    yield server
    server.shutdown()


# -- success ------------------------------------------------------------------------------------


def test_a_deploy_pushes_the_branch_head_and_records_the_release(environment, git_repo, sim):
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    app = sim.app_state()
    assert app["current_commit"] == git_repo.head()
    assert deploy.sha == git_repo.head()
    assert deploy.release_version == app["releases"][-1]["version"]
    assert "Released v" in log_text(deploy)
    assert [s.name for s in deploy.steps.all()] == ["checkout", "push", "release_phase"]


def test_without_custom_commands_it_pushes_from_the_mirror_without_a_working_copy(environment):
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert "is ready to push" in log_text(deploy)
    assert "Checked out" not in log_text(deploy)


def test_custom_commands_run_in_a_checkout_of_the_commit(environment, git_repo, sim):
    configure(environment, pre_deploy_commands="cat README.md")
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert f"Checked out {git_repo.head()[:12]}." in log_text(deploy)
    assert "hello" in log_text(deploy)  # README.md's content, read in the checkout


def test_every_configured_step_runs_in_order_and_leaves_the_app_as_it_was(careful, health, sim):
    configure(
        careful,
        pre_deploy_commands="echo before",
        post_deploy_commands="echo after",
        health_check_url=health.url,
        health_check_text="good",
    )
    deploy = deploy_now(careful)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert [s.name for s in deploy.steps.all()] == [
        "checkout",
        "pre_deploy",
        "backup",
        "maintenance_on",
        "scale_down",
        "push",
        "release_phase",
        "migrate",
        "scale_back",
        "maintenance_off",
        "post_deploy",
        "health_check",
    ]
    ran = deploy.steps.exclude(name="release_phase")  # skipped: the Procfile has no release
    assert all(s.state == StepState.SUCCEEDED for s in ran)
    app = sim.app_state()
    assert app["maintenance"] is False
    assert app_formation(sim) == {"web": 1, "worker": 2}
    assert app["config_vars"]["MAINTENANCE_PAGE_URL"] == "https://example.com/maintenance.html"
    assert deploy.backup_name == f"b{app['backups'][-1]['num']:03d}"
    assert deploy.ran_migration
    text = log_text(deploy)
    assert "Applying migration 0042 to run." in text
    assert "This app has no clock process type; skipped." in text
    events = event_summaries(sim)
    order = [
        next(i for i, e in enumerate(events) if marker in e)
        for marker in ["maintenance on", "worker=0", "PUSH", "RUN", "worker=2", "maintenance off"]
    ]
    assert order == sorted(order), events


def event_order(sim, *markers) -> list[int]:
    """Where each marker first appears in the simulator's recorded calls, in time order."""
    events = event_summaries(sim)
    return [next(i for i, e in enumerate(events) if marker in e) for marker in markers]


@pytest.mark.parametrize("mode", [MaintenanceMode.MIGRATIONS, MaintenanceMode.DEPLOY])
def test_maintenance_is_on_before_the_push_releases_code_and_off_after_the_migration(
    environment, repo, sim, mode
):
    configure(environment, maintenance_mode=mode, migration_command="bash migrate.sh")
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    names = [s.name for s in deploy.steps.all()]
    assert names == [
        "checkout",
        "maintenance_on",
        "push",
        "release_phase",
        "migrate",
        "maintenance_off",
    ]
    on, push, run, off = event_order(sim, "maintenance on", "PUSH", "RUN", "maintenance off")
    assert on < push < run < off, event_summaries(sim)
    assert sim.app_state()["maintenance"] is False


def test_maintenance_around_migrations_stays_off_for_a_deploy_without_migration(environment, sim):
    configure(environment, maintenance_mode=MaintenanceMode.MIGRATIONS)
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert [s.name for s in deploy.steps.all()] == ["checkout", "push", "release_phase"]
    assert not any("maintenance" in e for e in event_summaries(sim))


# -- failures and cleanup -------------------------------------------------------------------


def assert_app_restored(sim):
    assert sim.app_state()["maintenance"] is False
    assert app_formation(sim) == {"web": 1, "worker": 2}


def test_a_failing_pre_deploy_command_fails_before_touching_the_app(careful, sim):
    configure(careful, pre_deploy_commands="echo checking\nexit 4\necho never")
    deploy = deploy_now(careful)
    assert deploy.state == State.FAILED
    assert deploy.reason == "`exit 4` exited with status 4."
    assert "never" not in log_text(deploy)
    assert sim.app_state()["pushes"] == []
    assert_app_restored(sim)


def test_a_failed_backup_fails_the_deploy_before_maintenance(careful, sim):
    sim.fault("POST /client/v11/databases/{addon_id}/backups", status=503)
    deploy = deploy_now(careful)
    assert deploy.state == State.FAILED
    assert "Heroku could not be reached" in deploy.reason
    assert ran_steps(deploy)[-1] == "backup"
    assert_app_restored(sim)


def test_a_failed_build_switches_maintenance_off_and_scales_back(careful, repo, sim):
    repo.commit(".heroku-sim-fail-build", "", "Break the build")
    deploy = deploy_now(careful)
    assert deploy.state == State.FAILED
    assert deploy.reason.startswith("Heroku rejected the push: Push rejected, failed to compile")
    assert ran_steps(deploy)[-2:] == ["push", "cleanup"]
    skipped = ["release_phase", "migrate", "scale_back", "maintenance_off"]
    assert [s.name for s in deploy.steps.filter(state=StepState.SKIPPED)] == skipped
    assert_app_restored(sim)
    assert "Scaled back to worker=2." in log_text(deploy)


def test_a_failed_migration_cleans_up(careful, sim):
    configure(careful, migration_command="echo half done; (exit 3)")
    deploy = deploy_now(careful)
    assert deploy.state == State.FAILED
    assert deploy.reason == "The migration exited with status 3."
    assert deploy.steps.get(name="migrate").exit_status == 3
    assert_app_restored(sim)


def test_maintenance_stays_on_after_a_failed_migration_when_the_environment_says_so(careful, sim):
    configure(careful, migration_command="(exit 3)", keep_maintenance_after_failed_migration=True)
    deploy = deploy_now(careful)
    assert deploy.state == State.FAILED
    assert sim.app_state()["maintenance"] is True
    assert app_formation(sim) == {"web": 1, "worker": 2}
    assert "Maintenance mode stays on: the migration failed" in log_text(deploy)


def test_a_migration_that_runs_too_long_is_stopped(careful, sim):
    configure(careful, migration_command="echo starting; sleep 60", migration_timeout=2)
    started = time.monotonic()
    deploy = deploy_now(careful)
    assert time.monotonic() - started < 20
    assert deploy.state == State.FAILED
    assert deploy.reason.startswith("The migration timed out")
    assert_app_restored(sim)
    dyno = sim.app_state()["dynos"][-1]
    assert dyno["state"] == "down"


def test_a_failed_cleanup_says_what_state_the_app_was_left_in(careful, sim):
    configure(careful, migration_command="sleep 1; (exit 3)")
    deploy = request_deploy(careful)
    thread = run_in_thread(deploy)
    wait_for(lambda: deploy.steps.filter(name="migrate", state=StepState.RUNNING).exists())
    sim.fault("PATCH /apps/{app}/formation", status=422, message="Nope.")
    sim.fault("PATCH /apps/{app}", status=422, message="No way.")
    thread.join(30)
    deploy.refresh_from_db()
    assert deploy.state == State.FAILED
    assert deploy.reason == (
        "The migration exited with status 3. Cleanup failed: process types are still scaled "
        "down, should be worker=2 (Nope.); the app is still in maintenance mode (No way.)"
    )
    assert deploy.steps.get(name="cleanup").state == StepState.FAILED


def test_a_failing_post_deploy_command_fails_the_deploy_after_maintenance_is_off(careful, sim):
    configure(careful, post_deploy_commands="exit 1")
    deploy = deploy_now(careful)
    assert deploy.state == State.FAILED
    assert deploy.steps.get(name="maintenance_off").state == StepState.SUCCEEDED
    assert_app_restored(sim)


def test_a_failed_health_check_rolls_back_once_when_enabled(environment, health, sim):
    health.status = 503
    configure(
        environment,
        health_check_url=health.url,
        health_check_retries=1,
        health_check_delay=0,
        auto_rollback=True,
    )
    before = sim.app_state()["releases"][-1]
    deploy = deploy_now(environment)
    assert deploy.state == State.FAILED
    assert deploy.reason.startswith("The health check failed: status 503, expected 200")
    assert deploy.reason.endswith("Rolled back automatically.")
    releases = sim.app_state()["releases"]
    assert releases[-1]["description"] == f"Rollback to v{before['version']}"
    assert sum("Rollback" in r["description"] for r in releases) == 1


def test_an_expected_text_alone_checks_the_apps_web_url(environment, sim):
    configure(environment, health_check_text="Welcome")
    deploy = deploy_now(environment)
    web_url = sim.app_state()["web_url"]
    # The simulator's web URL is not served here: the check runs against it and fails.
    assert f"GET {web_url}: " in log_text(deploy)
    assert deploy.state == State.FAILED
    assert deploy.reason.startswith("The health check failed: ")


def test_without_a_health_check_url_or_text_no_health_check_runs(environment, sim):
    configure(environment, health_check_retries=3, health_check_status=204)
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert "health_check" not in [step.name for step in deploy.steps.all()]


def test_an_unknown_commit_fails_clearly(environment, sim):
    deploy = deploy_now(environment, sha="0123456789abcdef0123456789abcdef01234567")
    assert deploy.state == State.FAILED
    assert deploy.reason == "Commit 0123456789ab is not in the repository (was it pushed?)."


def test_a_shallow_mirror_is_unshallowed_before_the_push(environment, repo, sim, settings):
    from deploys.mirror import mirror_path
    from deploys.runners import git

    path = mirror_path(environment.project)
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    git("clone", "--mirror", "--depth", "1", f"file://{repo.path}", str(path))
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert "shallow clone: fetching its full history (unshallow)" in log_text(deploy)
    assert sim.app_state()["current_commit"] == repo.head()


def test_a_command_that_runs_too_long_is_killed_with_its_children(environment, sim):
    configure(
        environment,
        pre_deploy_timeout=1,
        pre_deploy_commands="(sleep 37.31; echo survived) & sleep 30",
    )
    started = time.monotonic()
    deploy = deploy_now(environment)
    assert time.monotonic() - started < 10
    assert deploy.state == State.FAILED
    assert "did not finish within 1s" in deploy.reason
    deadline = time.monotonic() + 2  # the sandbox's processes are killed with it, not waited for
    while processes_running("sleep 37.31") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not processes_running("sleep 37.31")


def processes_running(command_line) -> list[str]:
    """Processes of this host (in or out of a sandbox) running `command_line`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmdline.read_bytes().replace(b"\0", b" ").strip() == command_line.encode():
                found.append(cmdline.parent.name)
        except OSError:  # the process ended meanwhile
            pass
    return found


# -- cancel -----------------------------------------------------------------------------------


def run_in_thread(deploy):
    def target():
        try:
            jobs.run_deploy(deploy.pk)
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    return thread


def wait_for(predicate, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def test_cancel_while_migrating_stops_the_dyno_and_cleans_up(careful, sim, alice):
    configure(careful, migration_command="echo migrating; sleep 60", migration_timeout=120)
    deploy = request_deploy(careful, user=alice)
    thread = run_in_thread(deploy)
    wait_for(lambda: any(d["state"] == "up" for d in sim.app_state()["dynos"]))
    canceled_at = time.monotonic()
    cancel_deploy(deploy, alice)
    thread.join(30)
    assert time.monotonic() - canceled_at < 5
    deploy.refresh_from_db()
    assert deploy.state == State.CANCELED
    assert deploy.reason == "Canceled by alice."
    assert deploy.steps.get(name="migrate").state == StepState.CANCELED
    assert_app_restored(sim)


def test_cancel_while_pushing_stops_git(careful, sim, alice):
    sim.fault("GIT /{app}.git", delay=30, count=1)
    deploy = request_deploy(careful, user=alice)
    thread = run_in_thread(deploy)
    wait_for(lambda: deploy.steps.filter(name="push", state=StepState.RUNNING).exists())
    time.sleep(0.5)
    canceled_at = time.monotonic()
    cancel_deploy(deploy, alice)
    thread.join(30)
    assert time.monotonic() - canceled_at < 5
    deploy.refresh_from_db()
    assert deploy.state == State.CANCELED
    assert deploy.steps.get(name="push").state == StepState.CANCELED
    assert sim.app_state()["pushes"] == []
    assert_app_restored(sim)


def test_a_queued_deploy_is_canceled_at_once(environment, alice):
    deploy = request_deploy(environment, user=alice)
    cancel_deploy(deploy, alice)
    assert deploy.state == State.CANCELED
    jobs.run_deploy(deploy.pk)
    deploy.refresh_from_db()
    assert deploy.state == State.CANCELED
    assert not deploy.steps.exists()


# -- retry, rollback, waiting -------------------------------------------------------------------


def test_retry_deploys_the_same_commit_again(environment, git_repo, sim, alice):
    from deploys.services import retry_deploy

    first = deploy_now(environment, user=alice)
    git_repo.commit("later.txt", "later\n", "A later commit")
    retry = retry_deploy(first, alice)
    jobs.run_deploy(retry.pk)
    retry.refresh_from_db()
    assert retry.state == State.SUCCEEDED, retry.reason
    assert retry.sha == first.sha != git_repo.head()


def test_rollback_puts_back_the_chosen_release(environment, git_repo, sim, alice):
    from deploys.services import rollback_deploy

    first = deploy_now(environment, user=alice)
    git_repo.commit("later.txt", "later\n", "A later commit")
    deployed = deploy_now(environment, user=alice)
    rollback = rollback_deploy(deployed, alice, first.release_version)
    jobs.run_deploy(rollback.pk)
    rollback.refresh_from_db()
    assert rollback.state == State.SUCCEEDED, rollback.reason
    latest = sim.app_state()["releases"][-1]
    assert latest["description"] == f"Rollback to v{first.release_version}"
    assert latest["commit"] == rollback.sha == first.sha
    assert rollback.release_version == latest["version"]
    assert [s.name for s in rollback.steps.all()] == ["rollback", "release_phase"]
    assert f"Roll back to v{first.release_version}" in log_text(rollback)


def test_a_deploy_waits_while_another_deploy_of_the_app_runs(environment, sim, queue):
    from projects.models import Environment

    other = Environment.objects.create(
        project=environment.project, name="other", branch="x", app_name=environment.app_name
    )
    running = request_deploy(environment)
    Deploy.objects.filter(pk=running.pk).update(state=State.RUNNING)
    waiting = request_deploy(other)
    assert jobs.run_deploy(waiting.pk) == "waiting for the app"
    waiting.refresh_from_db()
    assert waiting.state == State.QUEUED
    scheduled = queue.scheduled_job_registry.get_job_ids()
    # Asked again later, as having waited: it does not fetch the mirror on every ask.
    assert any(queue.fetch_job(job).args == (waiting.pk, True) for job in scheduled)


def test_a_duplicate_job_does_nothing(environment, sim):
    deploy = deploy_now(environment)
    assert jobs.run_deploy(deploy.pk) == "not queued"
    assert deploy.steps.count() == 3  # checkout, push, release phase


def test_a_deploy_deferred_by_the_git_rate_limit_waits_in_the_queue(
    environment, sim, queue, monkeypatch
):
    import datetime

    from deploys import ratelimit

    until = datetime.datetime(2030, 1, 1, 14, 5, tzinfo=datetime.UTC)

    def defer(deploy, credential):
        raise ratelimit.DeferDeploy(until)

    # The rate limit stub is a seam another module fills in; here it asks to wait.
    monkeypatch.setattr(ratelimit, "before_push", defer)
    deploy = deploy_now(environment)
    assert deploy.state == State.QUEUED
    assert "Waiting for Heroku's git rate limit until 14:05" in log_text(deploy)
    scheduled = queue.scheduled_job_registry.get_job_ids()
    assert any(queue.fetch_job(job).args == (deploy.pk,) for job in scheduled)
    assert sim.app_state()["pushes"] == []


def test_secret_config_vars_are_redacted_from_the_migration_output(environment, repo, sim):
    token = "s3cr3t-token-value/with+chars"
    sim.api("PATCH", f"/apps/{environment.app_name}/config-vars", json={"SECRET_TOKEN": token})
    configure(
        environment,
        secret_config_vars="SECRET_TOKEN, SHORT",
        migration_command='echo "raw $SECRET_TOKEN"; echo -n "$SECRET_TOKEN" | base64',
    )
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    text = log_text(deploy)
    assert "raw [redacted]" in text
    assert token not in text
    assert "czNjcjN0LXRva2VuLXZhbHVlL3dpdGgrY2hhcnM=" not in text
    assert any(line == "[redacted]" for line in text.splitlines())


def test_the_cache_flush_empties_the_redis_named_by_the_config_var(environment, sim, app_redis):  # noqa: F811
    import redis

    cache = redis.Redis.from_url(app_redis)
    cache.set("cached-page", "stale")
    sim.api("PATCH", f"/apps/{environment.app_name}/config-vars", json={"CACHE_URL": app_redis})
    configure(environment, cache_flush="redis", cache_config_vars="CACHE_URL")
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert cache.get("cached-page") is None
    assert "Flushed the cache at CACHE_URL." in log_text(deploy)


def test_a_missing_cache_config_var_fails_the_deploy_clearly(environment, sim):
    configure(environment, cache_flush="memcached", cache_config_vars="MEMCACHIER_SERVERS")
    deploy = deploy_now(environment)
    assert deploy.state == State.FAILED
    assert deploy.reason == "The app has no config var MEMCACHIER_SERVERS to find its cache."
