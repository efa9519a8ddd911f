"""The official Heroku CLI (v11.10.0, `make tools`) against the simulator."""

import subprocess

import pytest

from tests.heroku_sim.fixtures import APP, HEROKU_CLI, default_state
from tests.sim.test_git import git, push

pytestmark = pytest.mark.cli


def test_the_official_cli_is_installed():
    # `make test` installs it (`make tools`); without it every test below would fail obscurely.
    assert HEROKU_CLI.exists(), "run `make tools` to install the official Heroku CLI"


def ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_apps_info_shows_the_app(heroku_sim):
    output = ok(heroku_sim.cli("apps:info", "-a", APP))
    assert f"=== {APP}" in output
    assert f"Git URL:        https://git.heroku.com/{APP}.git" in output
    dynos = next(line for line in output.splitlines() if line.startswith("Dynos:"))
    assert sorted(dynos.split(":", 1)[1].strip().split(", ")) == ["web: 1", "worker: 2"]


def test_maintenance_on_and_off_change_the_app(heroku_sim):
    assert ok(heroku_sim.cli("maintenance", "-a", APP)).strip() == "off"
    assert "Enabling maintenance mode for foo-bar-123... done" in ok(
        heroku_sim.cli("maintenance:on", "-a", APP)
    )
    assert heroku_sim.app_state()["maintenance"] is True
    assert ok(heroku_sim.cli("maintenance", "-a", APP)).strip().startswith("on")
    ok(heroku_sim.cli("maintenance:off", "-a", APP))
    assert heroku_sim.app_state()["maintenance"] is False


def test_ps_lists_the_formation_dynos(heroku_sim):
    output = ok(heroku_sim.cli("ps", "-a", APP))
    assert "=== worker (Basic): python worker.py (2)" in output
    assert "web.1: up" in output and "worker.2: up" in output


def test_ps_scale_changes_the_formation(heroku_sim):
    assert "now running worker at 0:Basic" in ok(heroku_sim.cli("ps:scale", "worker=0", "-a", APP))
    assert heroku_sim.app_state()["formation"]["worker"]["quantity"] == 0
    output = ok(heroku_sim.cli("ps:scale", "worker=2", "web=1", "-a", APP))
    assert "now running worker at 2:Basic, web at 1:Basic" in output
    formation = heroku_sim.app_state()["formation"]
    assert (formation["worker"]["quantity"], formation["web"]["quantity"]) == (2, 1)
    event = heroku_sim.state()["events"][-1]
    assert (event["method"], event["path"]) == ("PATCH", f"/apps/{APP}/formation")


def test_config_and_config_set(heroku_sim):
    assert "DATABASE_URL: postgres://" in ok(heroku_sim.cli("config", "-a", APP))
    output = ok(heroku_sim.cli("config:set", "K=V", "-a", APP))
    assert "Setting K and restarting foo-bar-123... done, v4" in output
    assert heroku_sim.app_state()["config_vars"]["K"] == "V"


def test_releases_and_rollback(heroku_sim, tmp_path):
    repo = tmp_path / "app"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "Procfile").write_text("web: gunicorn app.wsgi\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    assert push(heroku_sim, repo).returncode == 0
    output = ok(heroku_sim.cli("releases", "-a", APP))
    assert "=== foo-bar-123 Releases - Current: v4" in output
    assert "Deploy " in output and "Initial release" in output
    assert "Rolling back foo-bar-123 to v2... done, v5" in ok(
        heroku_sim.cli("releases:rollback", "v2", "-a", APP)
    )
    app = heroku_sim.app_state()
    assert app["releases"][-1]["description"] == "Rollback to v2"
    assert app["current_commit"] is None


def test_keys_add_and_list(heroku_sim, tmp_path):
    key_path = tmp_path / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "cli@test", "-f", key_path],
        check=True,
    )
    assert "Uploading" in ok(heroku_sim.cli("keys:add", f"{key_path}.pub"))
    assert heroku_sim.state()["keys"][0]["comment"] == "cli@test"
    assert "cli@test" in ok(heroku_sim.cli("keys"))


def test_run_passes_the_exit_status_through(heroku_sim):
    result = heroku_sim.cli("run", "--exit-code", "-a", APP, "--", "echo hi; false")
    assert result.returncode == 1
    assert result.stdout == "hi\n"
    assert "Process exited with code 1" in result.stderr
    assert ok(heroku_sim.cli("run", "--exit-code", "-a", APP, "--", "echo", "fine")).startswith(
        "fine\n"
    )
    runs = heroku_sim.app_state()["dynos"]
    assert [r["output"].splitlines()[0] for r in runs] == ["hi", "fine"]


def test_pg_backups_capture_finishes(heroku_sim_factory):
    state = default_state()
    state["backup_seconds"] = 0
    sim = heroku_sim_factory(state)
    output = ok(sim.cli("pg:backups:capture", "-a", APP))
    assert "Backing up DATABASE to b001... done" in output
    assert sim.app_state()["backups"][0]["succeeded"] is True


def test_pg_backups_restore_restores_the_backup_and_fails_when_told(heroku_sim_factory):
    state = default_state()
    state["backup_seconds"] = 0
    sim = heroku_sim_factory(state)
    ok(sim.cli("pg:backups:capture", "-a", APP))
    output = ok(sim.cli("pg:backups:restore", "b001", "DATABASE_URL", "-a", APP, "--confirm", APP))
    assert "Starting restore of b001" in output
    database = next(a for a in sim.app_state()["addons"] if a["plan"].startswith("heroku-postgres"))
    assert database["restored_from"] == "b001"
    restore = sim.app_state()["backups"][-1]
    assert (restore["to_type"], restore["succeeded"]) == ("pg_restore", True)
    listed = ok(sim.cli("pg:backups", "-a", APP))
    assert "=== Restores" in listed and "r002" in listed and "b001" in listed

    sim.fault(f"RESTORE {APP}", message="pg_restore: out of disk", count=1)
    failed = sim.cli("pg:backups:restore", "b001", "DATABASE_URL", "-a", APP, "--confirm", APP)
    assert failed.returncode != 0
    assert "pg_restore: out of disk" in failed.stdout + failed.stderr
    assert sim.app_state()["backups"][-1]["succeeded"] is False

    ok(sim.cli("pg:backups:delete", "b001", "-a", APP, "--confirm", APP))
    gone = sim.cli("pg:backups:restore", "b001", "DATABASE_URL", "-a", APP, "--confirm", APP)
    assert gone.returncode != 0 and "Backup b001 not found" in gone.stdout + gone.stderr
