"""The Postgres backup flow of HEROKU.md §4 against the simulator."""

import socket

import pytest

from herokucd.heroku import Backup, BackupTimeout, HerokuClient, Unavailable


def test_capture_backup_waits_for_the_backup_and_names_it_like_heroku(client, app_name):
    progress = []
    backup = client.capture_backup(app_name, poll_interval=0.2, on_progress=progress.append)
    assert isinstance(backup, Backup)
    assert backup.name == "b001"
    assert backup.succeeded is True
    assert backup.finished_at
    assert progress[-1] == backup
    assert client.capture_backup(app_name, poll_interval=0.2).name == "b002"


def test_a_backup_still_running_at_the_timeout_raises_backup_timeout(client, app_name):
    with pytest.raises(BackupTimeout, match="b001"):
        client.capture_backup(app_name, poll_interval=0.2, timeout=0.5)


def test_backups_go_to_the_data_api_host(sim, app_name):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data_api = f"http://127.0.0.1:{port}"
    client = HerokuClient(sim.api_key, api_url=sim.api_url, data_api_url=data_api, retries=0)
    # The add-on lookup on the API host worked; the next call went to the data host.
    with pytest.raises(Unavailable, match=f"127.0.0.1:{port}"):
        client.capture_backup(app_name)


def test_scheduled_backups_are_named_with_an_a():
    transfer = {"uuid": "u", "num": 12, "schedule": {"uuid": "s"}}
    assert Backup.from_transfer(transfer).name == "a012"
