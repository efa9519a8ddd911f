"""The official Heroku CLI reads the simulator's release phase: `releases` shows each release's
status, `releases:output` prints a release command's output from its output_stream_url."""

import pytest

from tests.heroku_sim.fixtures import APP
from tests.sim.test_cli import ok
from tests.sim.test_git import push
from tests.sim.test_release_phase import commit, new_repo, settle

pytestmark = pytest.mark.cli


@pytest.fixture
def repo(tmp_path):
    return new_repo(tmp_path)


def test_releases_shows_a_failed_release_and_the_current_one(heroku_sim, repo):
    assert push(heroku_sim, repo).returncode == 0
    good = settle(heroku_sim)
    commit(repo, "web: gunicorn app.wsgi\nrelease: CODE=1 bash release.sh\n", "breaks")
    assert push(heroku_sim, repo).returncode == 0
    failed = settle(heroku_sim)
    output = ok(heroku_sim.cli("releases", "-a", APP))
    assert f"=== {APP} Releases - Current: v{good['version']}" in output
    line = next(
        row for row in output.splitlines() if row.strip().startswith(f"v{failed['version']}")
    )
    assert "release command failed" in line


def test_releases_shows_a_release_whose_command_still_runs(heroku_sim, repo):
    heroku_sim.api("PATCH", f"/apps/{APP}/config-vars", json={"PAUSE": "5"})
    assert push(heroku_sim, repo).returncode == 0
    output = ok(heroku_sim.cli("releases", "-a", APP))
    assert "release command executing" in output


def test_releases_output_prints_the_release_command_output(heroku_sim, repo):
    heroku_sim.api("PATCH", f"/apps/{APP}/config-vars", json={"GREETING": "cli"})
    assert push(heroku_sim, repo).returncode == 0
    release = settle(heroku_sim)
    result = heroku_sim.cli("releases:output", "-a", APP)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Migrating cli on release.")
    assert result.stdout.endswith("Migrated\n")
    by_version = heroku_sim.cli("releases:output", f"v{release['version']}", "-a", APP)
    assert by_version.stdout == result.stdout


def test_releases_output_follows_a_release_command_while_it_runs(heroku_sim, repo):
    heroku_sim.api("PATCH", f"/apps/{APP}/config-vars", json={"PAUSE": "2"})
    assert push(heroku_sim, repo).returncode == 0
    result = heroku_sim.cli("releases:output", "-a", APP)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("Migrated\n")  # it waited for the end


def test_releases_output_of_a_release_without_a_release_phase_says_so(heroku_sim, repo):
    commit(repo, "web: gunicorn app.wsgi\n", "no release phase")
    assert push(heroku_sim, repo).returncode == 0
    version = settle(heroku_sim)["version"]
    result = heroku_sim.cli("releases:output", "-a", APP)
    assert result.returncode == 0
    assert f"Release v{version} has no release output available." in result.stderr
