"""A deploy says only what Heroku's releases say: against the simulator, with real git repos.

A deploy succeeds only when Heroku's newest release runs its commit; a failed or canceled one
records where it left the app, and its page says so; its steps are known from the start.
"""

import pytest

from deploys import gates, jobs
from deploys.models import State, StepState
from deploys.services import cancel_deploy, request_deploy, rollback_deploy
from projects.models import CommitOnHeroku, MaintenanceMode
from tests.deploys.test_pipeline import (
    MIGRATE_SH,
    app_formation,
    configure,
    deploy_now,
    log_text,
    run_in_thread,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


def run(deploy):
    jobs.run_deploy(deploy.pk)
    deploy.refresh_from_db()
    return deploy


def releases(sim):
    return sim.app_state()["releases"]


@pytest.fixture
def rolled_back(environment, git_repo, sim, alice):
    """Commit `old` deployed, then `new`, then rolled back: `old` is live, while Heroku's git
    branch has `new` (as in the issue: v7 caa4633 live after a rollback, the branch at dec25a3)."""
    old = deploy_now(environment, user=alice)
    git_repo.commit("new.txt", "new\n", "A newer commit")
    new = deploy_now(environment, user=alice)
    assert new.state == State.SUCCEEDED, new.reason
    rollback = run(rollback_deploy(new, alice, old.release_version))
    assert rollback.state == State.SUCCEEDED, rollback.reason
    assert sim.app_state()["current_commit"] == old.sha
    assert gates.unlock(environment, alice)  # the rollback locked it: the fix is ready
    return old, new


def test_redeploying_the_commit_heroku_has_after_a_rollback_fails_before_the_migration(
    environment, rolled_back, sim, alice
):
    old, new = rolled_back
    configure(environment, migration_command="echo migrating")
    live = releases(sim)[-1]
    again = deploy_now(environment, user=alice, sha=new.sha)
    assert again.state == State.FAILED
    assert again.reason == (
        f"Heroku's git branch already had commit {new.sha[:7]}, so the push built nothing and "
        f"release v{live['version']} (commit {old.sha[:7]}) is still live. Retry with 'Release "
        "it again' set in this environment's deploy options, or roll back."
    )
    assert releases(sim)[-1]["id"] == live["id"]  # nothing released
    assert not again.ran_migration
    assert again.steps.get(name="migrate").state == StepState.SKIPPED
    assert not any(d["command"].startswith("echo migrating") for d in sim.app_state()["dynos"])
    assert again.end_state["release"]["whose"] == "before"
    assert again.end_state["release"]["commit"] == old.sha


def test_release_it_again_releases_the_earlier_build_of_the_commit(
    environment, rolled_back, sim, alice
):
    _old, new = rolled_back
    configure(environment, when_commit_on_heroku=CommitOnHeroku.RELEASE)
    new_slug = next(r["slug_id"] for r in releases(sim) if r["commit"] == new.sha)
    again = deploy_now(environment, user=alice, sha=new.sha)
    assert again.state == State.SUCCEEDED, again.reason
    latest = releases(sim)[-1]
    assert latest["commit"] == new.sha and latest["slug_id"] == new_slug
    assert latest["description"] == f"Deploy {new.sha[:7]} again (herokucd #{again.number})"
    assert (again.release_version, again.release_commit) == (latest["version"], new.sha)
    assert "Releasing it again, as this environment's options say." in log_text(again)


def test_a_push_after_which_another_commit_is_the_newest_release_is_never_green(
    environment, sim, alice
):
    before = releases(sim)[-1]
    deploy = request_deploy(environment, user=alice)
    thread = run_in_thread(deploy)
    wait_for(lambda: deploy.steps.filter(name="push", state=StepState.RUNNING).exists())
    # Heroku is slow to list the releases after the push; someone rolls back meanwhile.
    sim.fault("GET /apps/{app}/releases", delay=3, count=1)
    wait_for(lambda: sim.app_state()["pushes"])
    sim.api("POST", f"/apps/{environment.app_name}/releases", json={"release": before["id"]})
    thread.join(30)
    deploy.refresh_from_db()
    assert deploy.state == State.FAILED
    live = releases(sim)[-1]
    assert deploy.reason.startswith(
        f"Heroku's newest release after the push is release v{live['version']}, not a release "
        f"of commit {deploy.sha[:7]}. Retry with 'Release it again'"
    )
    assert deploy.release_version is None


def test_a_release_made_by_someone_else_during_the_deploy_is_never_green(
    environment, repo_with_migration, sim, alice
):
    configure(environment, migration_command="sleep 2; bash migrate.sh", migration_timeout=30)
    before = releases(sim)[-1]
    deploy = request_deploy(environment, user=alice)
    thread = run_in_thread(deploy)
    wait_for(lambda: deploy.steps.filter(name="migrate", state=StepState.RUNNING).exists())
    sim.api("POST", f"/apps/{environment.app_name}/releases", json={"release": before["id"]})
    thread.join(30)
    deploy.refresh_from_db()
    assert deploy.state == State.FAILED
    live = releases(sim)[-1]
    assert live["description"] == f"Rollback to v{before['version']}"
    assert deploy.reason.startswith(f"Release v{live['version']} ")
    assert deploy.reason.endswith(
        f"is live now, not this deploy's commit {deploy.sha[:7]}: the app was released by "
        "something else during the deploy."
    )


def test_a_deploy_records_the_commit_of_the_release_it_made(environment, git_repo, sim):
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert deploy.release_commit == git_repo.head() == sim.app_state()["current_commit"]
    assert f"Heroku release v{deploy.release_version} (commit {deploy.sha[:7]}) is live." in (
        log_text(deploy)
    )


def test_an_older_commit_refused_as_non_fast_forward_points_to_force_push(
    environment, git_repo, sim, alice
):
    older = git_repo.head()
    git_repo.commit("newer.txt", "newer\n", "A newer commit")
    assert deploy_now(environment, user=alice).state == State.SUCCEEDED
    deploy = deploy_now(environment, user=alice, sha=older)
    assert deploy.state == State.FAILED
    assert deploy.reason == (
        f"Heroku refused commit {older[:7]}: its main branch has commits this one is not built "
        "on, so the commit is older than (or not built on) what Heroku has (git said "
        "non-fast-forward). To deploy it anyway, turn on Force push in this environment's "
        "deploy options and retry; to go back to an earlier deploy, roll back."
    )
    assert "(non-fast-forward)" in log_text(deploy)  # git's own words stay in the log


# -- where a failed or canceled deploy left the app -----------------------------------------


@pytest.fixture
def repo_with_migration(git_repo):
    git_repo.commit("migrate.sh", MIGRATE_SH, "Add the migration")
    return git_repo


@pytest.fixture
def careful(environment, repo_with_migration):
    return configure(
        environment,
        maintenance_mode=MaintenanceMode.DEPLOY,
        scale_down_types="worker",
        migration_command="echo half done; (exit 1)",
        migration_timeout=30,
    )


def test_a_failed_migration_records_the_live_release_maintenance_processes_and_exit(
    careful, repo_with_migration, sim, alice, client
):
    configure(careful, migration_command="bash migrate.sh")
    good = deploy_now(careful, user=alice)
    assert good.state == State.SUCCEEDED, good.reason
    repo_with_migration.commit("0043.sql", "alter table\n", "A migration that fails")
    configure(careful, migration_command="echo half done; (exit 1)")
    failed = deploy_now(careful, user=alice)
    assert failed.state == State.FAILED
    end = failed.end_state
    assert end["maintenance"] is False
    assert end["formation"] == app_formation(sim) == {"web": 1, "worker": 2}
    assert end["release"]["version"] == failed.release_version == releases(sim)[-1]["version"]
    assert end["release"]["whose"] == "this"
    assert end["migration"] == {"planned": True, "ran": True, "outcome": "exited", "exit_status": 1}
    assert end["last_good"]["number"] == good.number and not end["last_good"]["live"]

    client.force_login(alice)
    page = client.get(failed.get_absolute_url()).content.decode()
    assert f"Live: release v{failed.release_version} (commit" in page
    assert "this deploy's release." in page
    assert "Maintenance mode is off." in page
    assert "worker=2" in page
    assert "The migration ran and exited with status 1: the database may be half-migrated." in page
    rollback = f"/projects/{failed.project.slug}/deploys/{failed.number}/rollback/?to={good.number}"
    assert f'href="{rollback}"' in page
    assert f"Roll back to #{good.number} (last good)" in page


def test_the_failure_notification_says_where_the_deploy_left_the_app(careful, sim, alice):
    from deploys import notifications

    failed = deploy_now(careful, user=alice)
    assert failed.state == State.FAILED
    text = notifications.as_text(notifications.message(failed, "failed"))
    assert (
        f"Now: release v{failed.release_version} (commit {failed.sha[:7]}) is live, maintenance "
        "off, web=1, worker=2; the migration exited with status 1." in text
    )


def test_no_roll_back_link_without_an_earlier_succeeded_deploy(careful, sim, alice, client):
    failed = deploy_now(careful, user=alice)
    assert failed.state == State.FAILED
    assert failed.end_state["last_good"] is None
    client.force_login(alice)
    page = client.get(failed.get_absolute_url()).content.decode()
    assert 'id="end-state"' in page and "(last good)" not in page


def test_a_cancel_during_the_migration_records_where_it_left_the_app(careful, sim, alice):
    configure(careful, migration_command="echo migrating; sleep 60", migration_timeout=120)
    deploy = request_deploy(careful, user=alice)
    thread = run_in_thread(deploy)
    wait_for(lambda: any(d["state"] == "up" for d in sim.app_state()["dynos"]))
    cancel_deploy(deploy, alice)
    thread.join(30)
    deploy.refresh_from_db()
    assert deploy.state == State.CANCELED
    end = deploy.end_state
    assert end["migration"]["outcome"] == "canceled"
    assert end["maintenance"] is False and end["formation"]["worker"] == 2
    assert end["release"]["whose"] == "this"
    # The steps after the migration never ran: none stays queued on a finished deploy.
    states = dict(deploy.steps.values_list("name", "state"))
    assert states["migrate"] == StepState.CANCELED
    assert states["scale_back"] == states["maintenance_off"] == StepState.CANCELED
    assert StepState.PENDING not in states.values()


def test_heroku_unreachable_after_a_failure_is_recorded_in_words(
    environment, repo_with_migration, sim, alice
):
    configure(environment, migration_command="(exit 1)")
    sim.fault("GET /apps/{app}/formation", status=503, count=100)  # only the end state asks
    failed = deploy_now(environment, user=alice)
    assert failed.state == State.FAILED
    assert "error" in failed.end_state, (failed.end_state, failed.reason)
    assert failed.end_state["error"].startswith("Heroku could not be asked: Heroku could not")
    assert failed.end_state["migration"]["exit_status"] == 1


# -- the planned steps -------------------------------------------------------------------------


def test_every_planned_step_is_listed_queued_from_the_start_and_none_stays_queued(
    careful, sim, alice, client
):
    configure(careful, migration_command="sleep 2; bash migrate.sh")
    deploy = request_deploy(careful, user=alice)
    thread = run_in_thread(deploy)
    wait_for(lambda: deploy.steps.exists())
    first = list(deploy.steps.values_list("name", "state"))
    thread.join(30)
    deploy.refresh_from_db()
    assert deploy.state == State.SUCCEEDED, deploy.reason
    planned = ["checkout", "maintenance_on", "scale_down", "push", "release_phase", "migrate"]
    planned.append("scale_back")
    planned.append("maintenance_off")
    assert [name for name, _ in first] == planned
    assert first[-1][1] == StepState.PENDING
    assert list(deploy.steps.values_list("name", flat=True)) == planned
    states = dict(deploy.steps.values_list("name", "state"))
    assert states.pop("release_phase") == StepState.SKIPPED  # the Procfile has no release process
    assert set(states.values()) == {StepState.SUCCEEDED}


def test_the_page_counts_the_planned_steps_while_the_first_one_runs(careful, sim, alice, client):
    sim.fault("GIT /{app}.git", delay=3, count=1)
    deploy = request_deploy(careful, user=alice)
    thread = run_in_thread(deploy)
    wait_for(lambda: deploy.steps.filter(state=StepState.RUNNING).exists())
    client.force_login(alice)
    page = client.get(deploy.get_absolute_url()).content.decode()
    thread.join(30)
    assert 'Step <span id="steps-done">' in page and "</span> of 8</h2>" in page


def test_a_deploy_back_from_waiting_for_the_rate_limit_keeps_one_row_per_step(
    environment, sim, queue, monkeypatch
):
    import datetime

    from deploys import ratelimit

    real = ratelimit.before_push
    until = datetime.datetime(2030, 1, 1, 14, 5, tzinfo=datetime.UTC)

    def defer(deploy, credential):
        raise ratelimit.DeferDeploy(until)

    monkeypatch.setattr(ratelimit, "before_push", defer)
    deploy = deploy_now(environment)
    assert deploy.state == State.QUEUED
    assert list(deploy.steps.values_list("name", "state")) == [
        ("checkout", StepState.PENDING),
        ("push", StepState.PENDING),
        ("release_phase", StepState.PENDING),
    ]
    monkeypatch.setattr(ratelimit, "before_push", real)
    deploy = run(deploy)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert list(deploy.steps.values_list("name", "state")) == [
        ("checkout", StepState.SUCCEEDED),
        ("push", StepState.SUCCEEDED),
        ("release_phase", StepState.SKIPPED),
    ]


def test_canceling_a_deploy_back_in_the_queue_cancels_its_planned_steps(
    environment, sim, queue, monkeypatch, alice
):
    import datetime

    from deploys import ratelimit

    until = datetime.datetime(2030, 1, 1, 14, 5, tzinfo=datetime.UTC)

    def defer(deploy, credential):
        raise ratelimit.DeferDeploy(until)

    monkeypatch.setattr(ratelimit, "before_push", defer)
    deploy = deploy_now(environment, user=alice)
    assert deploy.state == State.QUEUED
    cancel_deploy(deploy, alice)
    assert set(deploy.steps.values_list("state", flat=True)) == {StepState.CANCELED}
