"""Real `git push` over smart HTTP to the simulator."""

import subprocess
import time

import pytest

from tests.heroku_sim.fixtures import APP, OTHER_APP, default_state

pytestmark = pytest.mark.slow


def git(repo, *args, key=None, check=True):
    """Run git in `repo`; the API key reaches git through a credential helper, not the URL."""
    helper = []
    if key is not None:
        script = f"!f() {{ echo username=heroku; echo password={key}; }}; f"
        helper = ["-c", "credential.helper=", "-c", f"credential.helper={script}"]
    return subprocess.run(
        ["git", *helper, *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=check,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(repo),
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": "T",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "T",
            "GIT_COMMITTER_EMAIL": "t@example.com",
        },
    )


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "app"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "Procfile").write_text("web: gunicorn app.wsgi\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "first")
    return path


def head(repo):
    return git(repo, "rev-parse", "HEAD").stdout.strip()


def push(sim, repo, refspec="HEAD:main", key=None, app=APP):
    key = sim.api_key if key is None else key
    return git(repo, "push", f"{sim.git_url}/{app}.git", refspec, key=key, check=False)


def test_it_releases_a_push_to_main_with_build_output(heroku_sim, repo):
    result = push(heroku_sim, repo)
    assert result.returncode == 0, result.stderr
    assert "remote: -----> Building on the Heroku-24 stack" in result.stderr
    assert "remote:        Released v4" in result.stderr
    app = heroku_sim.app_state()
    assert app["releases"][-1]["description"] == f"Deploy {head(repo)[:7]}"
    assert app["current_commit"] == head(repo)
    assert app["pushes"][-1]["sha"] == head(repo)
    assert app["pushes"][-1]["ref"] == "refs/heads/main"
    assert app["pushes"][-1]["account"] == "deployer@example.com"


def test_it_releases_a_push_to_master(heroku_sim, repo):
    assert push(heroku_sim, repo, "HEAD:master").returncode == 0
    assert heroku_sim.app_state()["pushes"][-1]["ref"] == "refs/heads/master"


def test_it_rejects_a_failing_build(heroku_sim, repo):
    (repo / ".heroku-sim-fail-build").write_text("")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "breaks the build")
    result = push(heroku_sim, repo)
    assert result.returncode != 0
    assert "pre-receive hook declined" in result.stderr
    assert "Push rejected, failed to compile" in result.stderr
    assert heroku_sim.app_state()["current_commit"] is None


def test_it_rejects_a_push_to_another_branch(heroku_sim, repo):
    result = push(heroku_sim, repo, "HEAD:feature")
    assert result.returncode != 0
    assert "pre-receive hook declined" in result.stderr
    assert len(heroku_sim.app_state()["releases"]) == 3


def test_it_rejects_a_push_without_a_key(heroku_sim, repo):
    result = push(heroku_sim, repo, key="HRKU-00000000-0000-4000-8000-000000000000")
    assert result.returncode != 0
    assert "remote: ! Do not authenticate with username and password using git." in result.stderr
    assert "Authentication failed" in result.stderr


def test_it_forbids_a_push_to_another_accounts_app(heroku_sim, repo):
    result = push(heroku_sim, repo, app=OTHER_APP)
    assert result.returncode != 0
    assert "403" in result.stderr
    assert heroku_sim.app_state(OTHER_APP)["pushes"] == []


def test_it_answers_429_after_too_many_git_requests(heroku_sim_factory, repo):
    state = default_state()
    state["git_rate_limit"] = {"requests": 2, "window_seconds": 3600}
    sim = heroku_sim_factory(state)
    url = f"{sim.git_url}/{APP}.git"
    git(repo, "ls-remote", url, key=sim.api_key)  # protocol v2: info/refs + ls-refs
    result = git(repo, "ls-remote", url, key=sim.api_key, check=False)
    assert result.returncode != 0
    assert "429" in result.stderr
    assert "Too many requests for this Git repo. Please try again later." in result.stderr


def test_it_counts_75_requests_per_hour_by_default(heroku_sim):
    auth = ("heroku", heroku_sim.api_key)
    url = f"{heroku_sim.git_url}/{APP}.git/info/refs?service=git-upload-pack"
    statuses = [heroku_sim.http.get(url, auth=auth).status_code for _ in range(76)]
    assert statuses[:75] == [200] * 75
    assert statuses[75] == 429
    assert heroku_sim.http.get(url, auth=("heroku", heroku_sim.other_api_key)).status_code == 403


def test_it_frees_the_git_limit_after_the_window(heroku_sim_factory):
    state = default_state()
    state["git_rate_limit"] = {"requests": 1, "window_seconds": 0.3}
    sim = heroku_sim_factory(state)
    auth = ("heroku", sim.api_key)
    url = f"{sim.git_url}/{APP}.git/info/refs?service=git-upload-pack"
    assert [sim.http.get(url, auth=auth).status_code for _ in range(2)] == [200, 429]
    time.sleep(0.35)
    assert sim.http.get(url, auth=auth).status_code == 200


def test_it_fails_git_requests_on_a_git_fault(heroku_sim, repo):
    heroku_sim.fault("GIT /{app}.git", status=503, count=1)
    result = push(heroku_sim, repo)
    assert result.returncode != 0
    assert push(heroku_sim, repo).returncode == 0
