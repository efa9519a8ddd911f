"""A deploy follows Heroku's release phase: it waits for the new release to leave `pending`,
shows the release command's output as the "Release phase" step, and fails in Heroku's words
when the release failed (docs/heroku.md §6.1). Against the simulator, with real git repos."""

import threading
from pathlib import Path

import pytest

from deploys import jobs, notifications
from deploys.logformat import read_lines
from deploys.models import State, StepState
from deploys.services import cancel_deploy, request_deploy, rollback_deploy
from projects.models import MaintenanceMode
from tests.deploys.test_pipeline import (
    HealthHandler,
    HealthServer,
    app_formation,
    configure,
    deploy_now,
    log_text,
    run_in_thread,
    wait_for,
)
from tests.gitrepo import GitRepo
from tests.heroku_sim.fixtures import APP

pytestmark = pytest.mark.django_db(transaction=True)

RELEASE_SH = """echo "Running migrations for $GREETING"
for n in 1 2 3; do echo "Applying 000$n... OK"; sleep ${PAUSE:-0.1}; done
exit ${CODE:-0}
"""


@pytest.fixture
def release_repo(git_repo):
    git_repo.commit("release.sh", RELEASE_SH, "Add the release tasks")
    git_repo.commit("Procfile", "web: gunicorn app.wsgi\nrelease: bash release.sh\n", "Procfile")
    return git_repo


@pytest.fixture
def careful(environment, release_repo):
    return configure(
        environment, maintenance_mode=MaintenanceMode.DEPLOY, scale_down_types="worker"
    )


def set_config(sim, **values):
    sim.api("PATCH", f"/apps/{APP}/config-vars", json=values).raise_for_status()


def releases(sim):
    return sim.app_state()["releases"]


def step(deploy, name):
    return deploy.steps.get(name=name)


def output_lines(deploy):
    return [line for line in log_text(deploy).splitlines() if line.startswith("Applying")]


def test_the_release_command_output_shows_in_the_release_phase_step(environment, release_repo, sim):
    set_config(sim, GREETING="production")
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert [s.name for s in deploy.steps.all()] == ["checkout", "push", "release_phase"]
    phase = step(deploy, "release_phase")
    assert (phase.title, phase.state) == ("Release phase", StepState.SUCCEEDED)
    lines = [line for line in read_lines(deploy, limit=10_000) if line.step == phase.position]
    texts = [line.text for line in lines]
    assert "Running migrations for production" in texts
    assert output_lines(deploy) == [
        "Applying 0001... OK",
        "Applying 0002... OK",
        "Applying 0003... OK",
    ]
    newest = releases(sim)[-1]
    assert newest["status"] == "succeeded" and newest["current"]
    assert deploy.release_version == newest["version"]
    words = f"Heroku release v{newest['version']} (commit {deploy.sha[:7]}) is live."
    assert f"The release phase succeeded: {words}" in texts


def test_a_failed_release_command_fails_the_deploy_and_cleans_up(careful, sim, alice, client):
    good = deploy_now(careful, user=alice)
    assert good.state == State.SUCCEEDED, good.reason
    # The next commit's release command exits 1.
    GitRepo(Path(good.project.repository_url)).commit(
        "release.sh", RELEASE_SH.replace("${CODE:-0}", "1"), "Break"
    )
    live = next(r for r in releases(sim) if r["current"])
    deploy = deploy_now(careful, user=alice)
    assert deploy.state == State.FAILED
    failed = releases(sim)[-1]
    assert failed["status"] == "failed" and failed["exit_status"] == 1
    assert deploy.reason == (
        f"The release phase failed: Heroku's release v{failed['version']} (commit "
        f"{deploy.sha[:7]}) failed (its release command failed), so the release before it stays "
        "live."
    )
    assert step(deploy, "release_phase").state == StepState.FAILED
    assert output_lines(deploy)[-1] == "Applying 0003... OK"  # its output, whole
    app = sim.app_state()
    assert app["maintenance"] is False and app_formation(sim) == {"web": 1, "worker": 2}
    assert next(r for r in app["releases"] if r["current"])["version"] == live["version"]
    assert deploy.end_state["release"]["version"] == live["version"]
    assert deploy.end_state["release"]["whose"] == "before"
    assert deploy.end_state["release_phase"] == {"version": failed["version"], "outcome": "failed"}
    text = notifications.as_text(notifications.message(deploy, "failed"))
    assert f"Why: The release phase failed: Heroku's release v{failed['version']}" in text
    assert f"; the release phase of v{failed['version']} failed." in text
    client.force_login(alice)
    page = client.get(deploy.get_absolute_url()).content.decode()
    assert (
        f"The release phase of release v{failed['version']} failed: Heroku did not deploy that "
        "release." in page
    )
    history = client.get(f"/projects/{deploy.project.slug}/deploys/").content.decode()
    assert history.count("in the release phase") == 1  # the failed deploy's row, not the good one


def test_a_stream_that_drops_mid_way_is_resumed_without_losing_or_repeating_lines(
    environment, release_repo, sim
):
    set_config(sim, PAUSE="0.4")
    sim.fault("RELEASE-OUTPUT", drop_after=45, count=2)  # cut inside a line, twice
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    text = log_text(deploy)
    assert text.count("Running migrations for") == 1
    assert output_lines(deploy) == [
        "Applying 0001... OK",
        "Applying 0002... OK",
        "Applying 0003... OK",
    ]
    assert sim.state()["faults"] == []  # both drops happened


def test_a_release_without_a_release_process_skips_the_step_and_says_why(environment, sim):
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    phase = step(deploy, "release_phase")
    assert phase.state == StepState.SKIPPED
    version = deploy.release_version
    assert phase.title == (
        f"Release phase: none (release v{version} has no release command: the Procfile has no "
        "release process)"
    )


def test_a_release_still_pending_after_the_timeout_fails_the_deploy(careful, sim, settings):
    settings.DEPLOY_RELEASE_PHASE_TIMEOUT = 2
    set_config(sim, PAUSE="5")
    deploy = deploy_now(careful)
    assert deploy.state == State.FAILED
    version = releases(sim)[-1]["version"]
    assert deploy.reason == (
        f"Heroku's release v{version} was still in its release phase after 2 seconds; "
        "herokucd stopped waiting for it (Heroku stops a release command after one hour)."
    )
    assert step(deploy, "release_phase").state == StepState.FAILED
    assert sim.app_state()["maintenance"] is False and app_formation(sim)["worker"] == 2
    assert deploy.end_state["release_phase"]["outcome"] == "timed_out"


def test_a_cancel_during_the_release_phase_stops_following_and_cleans_up(careful, sim, alice):
    set_config(sim, PAUSE="3")
    deploy = request_deploy(careful, user=alice)
    thread = run_in_thread(deploy)
    wait_for(lambda: deploy.steps.filter(name="release_phase", state=StepState.RUNNING).exists())
    wait_for(lambda: "Running migrations" in log_text(deploy))
    cancel_deploy(deploy, alice)
    thread.join(30)
    assert not thread.is_alive()
    deploy.refresh_from_db()
    assert deploy.state == State.CANCELED
    assert step(deploy, "release_phase").state == StepState.CANCELED
    assert "Applying 0003" not in log_text(deploy)  # it stopped before the command ended
    assert sim.app_state()["maintenance"] is False and app_formation(sim)["worker"] == 2


def test_a_rollback_follows_the_release_phase_of_the_release_it_makes(
    environment, release_repo, sim, alice
):
    first = deploy_now(environment, user=alice)
    release_repo.commit("new.txt", "new\n", "A newer commit")
    second = deploy_now(environment, user=alice)
    assert second.state == State.SUCCEEDED, second.reason
    rollback = rollback_deploy(second, alice, first.release_version)
    jobs.run_deploy(rollback.pk)
    rollback.refresh_from_db()
    assert rollback.state == State.SUCCEEDED, rollback.reason
    assert [s.name for s in rollback.steps.all()] == ["rollback", "release_phase"]
    assert step(rollback, "release_phase").state == StepState.SUCCEEDED
    assert "Applying 0003... OK" in log_text(rollback)


def test_a_stream_the_outbound_policy_refuses_is_not_read_but_the_release_is_followed(
    environment, release_repo, sim, settings
):
    settings.OUTBOUND_ALLOWED_NETWORKS = []  # the stream is on the simulator's loopback address
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert step(deploy, "release_phase").state == StepState.SUCCEEDED
    text = log_text(deploy)
    assert "127.0.0.1 is a loopback address" in text
    assert "The release phase's output is not shown." in text
    assert output_lines(deploy) == []


def test_a_stream_on_a_host_that_is_not_heroku_s_is_not_read_but_the_release_is_followed(
    environment, release_repo, sim, settings
):
    """The output stream's URL is Heroku's answer: as for a build's output, only Heroku's hosts
    or the configured API's own host are read. Here the API is configured as localhost and the
    answer names 127.0.0.1 (allowed by the address policy): another host, so it is not read."""
    settings.HEROKU_API_URL = sim.api_url.replace("127.0.0.1", "localhost")
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert step(deploy, "release_phase").state == StepState.SUCCEEDED
    text = log_text(deploy)
    assert (
        "Reading the release phase's output refused: Heroku's answer named http://127.0.0.1" in text
    )
    assert "The release phase's output is not shown." in text
    assert output_lines(deploy) == []


def test_a_release_made_during_the_deploy_is_waited_for_and_its_failure_fails_the_deploy(
    environment, release_repo, sim, alice
):
    configure(environment, migration_command="sleep 2", migration_timeout=30)
    deploy = request_deploy(environment, user=alice)
    thread = run_in_thread(deploy)
    wait_for(lambda: deploy.steps.filter(name="migrate", state=StepState.RUNNING).exists())
    set_config(sim, CODE="1", PAUSE="1")  # a new release of the same code, whose phase fails
    thread.join(60)
    deploy.refresh_from_db()
    assert deploy.state == State.FAILED
    failed = releases(sim)[-1]
    assert failed["status"] == "failed" and failed["commit"] == deploy.sha
    assert deploy.reason == (
        f"Heroku's release v{failed['version']} (commit {deploy.sha[:7]}) failed (its release "
        "command failed), so the release before it stays live."
    )


@pytest.fixture
def unhealthy():
    server = HealthServer(("127.0.0.1", 0), HealthHandler)
    server.status = 503
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()


def test_an_automatic_rollback_waits_for_its_release_phase_and_says_when_it_failed(
    environment, git_repo, sim, unhealthy, tmp_path
):
    marker = tmp_path / "break-the-old-release"
    set_config(sim, MARKER=str(marker))
    git_repo.commit("release.sh", '[ -e "$MARKER" ] && exit 3\necho "old release ok"\n', "Old")
    git_repo.commit("Procfile", "web: gunicorn app.wsgi\nrelease: bash release.sh\n", "Procfile")
    assert deploy_now(environment).state == State.SUCCEEDED
    marker.touch()  # the old release's release command fails from now on
    git_repo.commit("release.sh", 'echo "new release ok"\n', "New")
    configure(
        environment,
        health_check_url=unhealthy,
        health_check_retries=1,
        health_check_delay=0,
        auto_rollback=True,
    )
    deploy = deploy_now(environment)
    assert deploy.state == State.FAILED
    rollback = releases(sim)[-1]
    assert rollback["description"].startswith("Rollback to v")
    assert rollback["status"] == "failed"
    assert deploy.reason.startswith("The health check failed: status 503")
    assert deploy.reason.endswith(
        f"Automatic rollback failed: Heroku's release v{rollback['version']} failed its "
        "release phase, so it is not live."
    )
    assert "Waiting for its release phase." in log_text(deploy)
