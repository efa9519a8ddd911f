"""The Postgres backup flow of docs/heroku.md §4 against the simulator."""

import time

import pytest

from herokucd.heroku import Backup, BackupTimeout, HerokuClient, Unavailable
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
