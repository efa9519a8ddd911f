"""The Postgres backup flow of docs/heroku.md §4 against the simulator."""

import time

import pytest

from herokucd.heroku import (
    Backup,
    BackupTimeout,
    HerokuClient,
    NotFound,
    RestoreFailed,
    Unavailable,
)
from tests.heroku_sim.fixtures import default_state

from .helpers import refused_url


def test_capture_backup_waits_for_the_backup_and_names_it_like_heroku(heroku, app_name):
    progress = []
    backup = heroku.capture_backup(app_name, poll_interval=0.2, on_progress=progress.append)
    assert isinstance(backup, Backup)
    assert backup.name == "b001"
    assert backup.succeeded is True
    assert backup.finished_at
    assert progress[0].name == "b001" and progress[0].finished_at is None
    assert progress[-1] == backup
    assert heroku.capture_backup(app_name, poll_interval=0.2).name == "b002"


def test_a_backup_still_running_at_the_timeout_raises_backup_timeout(heroku_sim_factory, settings):
    slow = heroku_sim_factory({**default_state(), "backup_seconds": 30})
    heroku = HerokuClient(slow.api_key, api_url=slow.api_url, data_api_url=slow.api_url)
    started = time.monotonic()
    with pytest.raises(BackupTimeout, match="b001"):
        heroku.capture_backup("foo-bar-123", poll_interval=0.2, timeout=1)
    assert 0.8 < time.monotonic() - started < 3


def test_backups_go_to_the_data_api_host(sim, app_name):
    data_api = refused_url()
    heroku = HerokuClient(sim.api_key, api_url=sim.api_url, data_api_url=data_api, retries=0)
    # The add-on lookup on the API host worked; the next call went to the data host.
    with pytest.raises(Unavailable, match=data_api.removeprefix("http://")):
        heroku.capture_backup(app_name)


def test_scheduled_backups_are_named_with_an_a():
    transfer = {"uuid": "u", "num": 12, "schedule": {"uuid": "s"}}
    assert Backup.from_transfer(transfer).name == "a012"


def test_restore_backup_puts_the_backup_back_and_reports_progress(heroku, sim, app_name):
    backup = heroku.capture_backup(app_name, poll_interval=0.2)
    progress = []
    restore = heroku.restore_backup(app_name, backup.name, 0.2, on_progress=progress.append)
    assert restore.succeeded is True and restore.name == "r002"
    assert progress[0].finished_at is None and progress[-1] == restore
    database = next(a for a in sim.app_state()["addons"] if a["restored_from"])
    assert database["restored_from"] == "b001"
    posted = [e for e in sim.state()["events"] if e["path"].endswith("/restores")]
    assert len(posted) == 1 and posted[0]["status"] == 201


def test_a_restore_heroku_fails_raises_with_its_log(heroku, sim, app_name):
    heroku.capture_backup(app_name, poll_interval=0.2)
    sim.fault(f"RESTORE {app_name}", message="pg_restore: out of disk", count=1)
    with pytest.raises(RestoreFailed, match=r"b001 failed on Heroku: .*out of disk"):
        heroku.restore_backup(app_name, "b001", poll_interval=0.2)
    assert not any(a["restored_from"] for a in sim.app_state()["addons"])


def test_restoring_a_backup_that_does_not_exist_starts_nothing(heroku, sim, app_name):
    with pytest.raises(NotFound, match="b007 was not found"):
        heroku.restore_backup(app_name, "b007", poll_interval=0.2)
    assert not [e for e in sim.state()["events"] if e["path"].endswith("/restores")]
