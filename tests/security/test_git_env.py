"""The one environment git gets (herokucd/git.py git_env): built clean, never the worker's own,
a credential only through GIT_CONFIG_* for its URL's host, never a prompt."""

import subprocess
import tempfile
from pathlib import Path

from deploys import runners
from herokucd import git


def test_nothing_of_the_workers_environment_reaches_git_but_its_path(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", "worker-secret-key-8c41")
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    env = git.git_env(tmp_path)
    assert "SECRET_KEY" not in env and "GIT_CONFIG_COUNT" not in env
    assert env["HOME"] == str(tmp_path) and env["GIT_TERMINAL_PROMPT"] == "0"


def test_a_credential_goes_by_environment_to_its_host_alone(tmp_path):
    env = git.git_env(tmp_path, "https://git.heroku.com/app.git", "heroku:k%3Aey")
    assert env["GIT_CONFIG_COUNT"] == "2"
    assert env["GIT_CONFIG_KEY_0"] == "http.https://git.heroku.com/.extraHeader"
    assert env["GIT_CONFIG_VALUE_0"] == "Authorization: Basic aGVyb2t1Oms6ZXk="  # heroku:k:ey
    assert (env["GIT_CONFIG_KEY_1"], env["GIT_CONFIG_VALUE_1"]) == ("http.followRedirects", "false")
    assert "k:ey" not in "".join(env.values())


def test_ssh_runs_in_batch_mode_for_an_ssh_url_only(tmp_path):
    assert "BatchMode=yes" in git.git_env(tmp_path, "git@github.com:o/r.git")["GIT_SSH_COMMAND"]
    assert "GIT_SSH_COMMAND" not in git.git_env(tmp_path, "https://github.com/o/r.git")
    assert "GIT_SSH_COMMAND" not in git.git_env(tmp_path)


def test_a_gitconfig_left_in_the_temporary_folder_is_never_obeyed(tmp_path, monkeypatch, settings):
    """Any local account can write /tmp/.gitconfig; herokucd's own git commands (the checkout of
    a deploy, the Deploy form's reads) must not run the hooks it points at."""
    shared_tmp = tmp_path / "shared-tmp"  # stands for /tmp
    hooks = shared_tmp / "hooks"
    hooks.mkdir(parents=True)
    marker = tmp_path / "hook-ran"
    (hooks / "post-checkout").write_text(f"#!/bin/sh\ntouch {marker}\n")
    (hooks / "post-checkout").chmod(0o755)
    (shared_tmp / ".gitconfig").write_text(f"[core]\n\thooksPath = {hooks}\n")
    monkeypatch.setattr(tempfile, "tempdir", str(shared_tmp))
    repo = tmp_path / "repo"
    identity = ["-c", "user.email=a@example.com", "-c", "user.name=a"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), *identity, "commit", "-q", "--allow-empty", "-m", "x"])
    mirror = tmp_path / "mirror.git"
    subprocess.run(["git", "clone", "-q", "--mirror", str(repo), str(mirror)], check=True)

    runners.git("worktree", "add", "--detach", str(tmp_path / "checkout"), "HEAD", cwd=mirror)

    assert (tmp_path / "checkout").is_dir() and not marker.exists()
    home = git.quiet_home()
    assert home.parent == Path(settings.DATA_DIR) and home.stat().st_mode & 0o077 == 0
