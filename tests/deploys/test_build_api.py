"""Build API deploys against the simulator, from real git repositories: `git archive` of the
commit uploaded to the put URL Heroku gives, built by Heroku with its output in the log."""

import subprocess

import pytest
import requests

from deploys import mirror
from deploys.models import State, StepState
from deploys.services import cancel_deploy, request_deploy
from deploys.trigger_models import GitRequest
from heroku_simulator.compiler import FAIL_MARKER
from projects.models import DeployMethod, MaintenanceMode
from tests.deploys.test_pipeline import configure, deploy_now, log_text, run_in_thread, wait_for
from tests.sim.test_builds import tarball

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def built(environment, settings):
    settings.DEPLOY_BUILD_POLL_SECONDS = 0.2
    return configure(environment, deploy_method=DeployMethod.BUILD_API)


def builds(sim):
    return sim.app_state()["builds"]


def test_a_build_api_deploy_releases_the_commit_without_git(built, git_repo, sim):
    deploy = deploy_now(built)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert deploy.release_commit == git_repo.head() == sim.app_state()["current_commit"]
    assert sim.app_state()["pushes"] == []  # no git request reached Heroku
    assert [b["status"] for b in builds(sim)] == ["succeeded"]
    assert not GitRequest.objects.exists()  # nothing counted against the git rate limit
    text = log_text(deploy)
    assert "-----> Building on the Heroku-24 stack" in text
    assert f"Released v{deploy.release_version}" in text
    assert deploy.steps.get(name="push").title == "Build on Heroku (Build API)"
    # The upload and download URLs are capabilities: never in the log.
    assert "signature=" not in text


def test_a_failed_build_fails_the_deploy_in_herokus_words_and_cleans_up(built, git_repo, sim):
    git_repo.commit(FAIL_MARKER, "", "Break the build")
    configure(built, maintenance_mode=MaintenanceMode.DEPLOY)
    deploy = deploy_now(built)
    assert deploy.state == State.FAILED
    assert deploy.reason == (
        f"Heroku's build of commit {deploy.sha[:7]} failed: Push rejected, failed to compile "
        "Python app. Push failed"
    )
    assert deploy.steps.get(name="push").state == StepState.FAILED
    app = sim.app_state()
    assert app["maintenance"] is False  # the cleanup turned maintenance off
    assert app["current_commit"] is None
    assert "failed to compile Python app" in log_text(deploy)


def test_an_upload_refused_fails_the_deploy_with_the_storages_words(built, git_repo, sim):
    sim.fault("PUT /source-blobs/{id}", status=403, message="Request has expired")
    deploy = deploy_now(built)
    assert deploy.state == State.FAILED
    assert deploy.reason == (
        "Heroku's source storage refused the upload (403): Request has expired"
    )
    assert builds(sim) == []


def test_a_stream_that_drops_mid_build_is_resumed_without_repeating_lines(built, git_repo, sim):
    sim.fault("BUILD /apps/{app}/builds", delay=1, count=1)
    sim.fault("GET /build-output/{id}", count=1)
    deploy = deploy_now(built)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert sim.state()["faults"] == []  # the stream did drop once
    text = log_text(deploy)
    assert text.count("-----> Python app detected") == 1
    assert text.count("-----> Launching...") == 1
    assert f"Released v{deploy.release_version}" in text


def test_a_cancel_during_the_build_cancels_herokus_build(built, git_repo, sim, alice):
    sim.fault("BUILD /apps/{app}/builds", delay=30)
    deploy = request_deploy(built, user=alice)
    thread = run_in_thread(deploy)
    wait_for(lambda: builds(sim))
    cancel_deploy(deploy, alice)
    thread.join(30)
    deploy.refresh_from_db()
    assert deploy.state == State.CANCELED
    assert builds(sim)[0]["canceled"] is True and builds(sim)[0]["status"] == "failed"
    assert sim.app_state()["current_commit"] is None
    assert "Canceled Heroku's build." in log_text(deploy)


def test_a_shallow_mirror_stays_shallow(built, git_repo, sim, project):
    git_repo.commit("second.txt", "2\n", "Second commit")
    path = mirror.mirror_path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["git", "clone", "-q", "--mirror", "--depth=1", f"file://{git_repo.path}", str(path)],
        check=True,
    )
    assert mirror.is_shallow(path)
    deploy = deploy_now(built)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert mirror.is_shallow(path)
    assert "unshallow" not in log_text(deploy)
    assert sim.app_state()["current_commit"] == git_repo.head()


def test_a_build_left_running_by_a_dead_worker_is_canceled_by_the_reaper(built, git_repo, sim):
    from io import StringIO

    from django.core.management import call_command

    from tests.deploys.test_reaper import running_since

    sim.fault("BUILD /apps/{app}/builds", delay=30)
    source = sim.api("POST", "/sources").json()["source_blob"]
    requests.put(source["put_url"], data=tarball({"Procfile": "web: x\n"}), timeout=10)
    build = sim.api(
        "POST", "/apps/foo-bar-123/builds", json={"source_blob": {"url": source["get_url"]}}
    ).json()
    deploy = running_since(built, 120, cleanup_state={"build": build["id"]})
    call_command("fail_stale_deploys", stdout=StringIO())
    deploy.refresh_from_db()
    assert deploy.state == State.FAILED and deploy.cleanup_state == {}
    assert builds(sim)[0]["canceled"] is True
    assert "Canceled Heroku's build." in log_text(deploy)


def test_a_build_api_release_runs_the_uploaded_files_in_its_release_phase_and_migration(
    built, git_repo, sim
):
    # Heroku's git repository never sees a Build API commit: the slug is the uploaded tarball.
    git_repo.commit("release.sh", 'echo "release tasks of $(cat VERSION)"\n', "Release tasks")
    git_repo.commit("migrate.sh", 'echo "migrating $(cat VERSION)"\n', "Migration")
    git_repo.commit("VERSION", "build-api-7\n", "Version")
    git_repo.commit("Procfile", "web: gunicorn app.wsgi\nrelease: bash release.sh\n", "Procfile")
    configure(built, migration_command="bash migrate.sh")
    deploy = deploy_now(built)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert [s.name for s in deploy.steps.all()] == ["checkout", "push", "release_phase", "migrate"]
    assert deploy.steps.get(name="release_phase").state == StepState.SUCCEEDED
    text = log_text(deploy)
    assert "release tasks of build-api-7" in text
    assert "migrating build-api-7" in text
    assert sim.app_state()["pushes"] == []
