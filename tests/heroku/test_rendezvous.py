"""Attached one-off dynos through the simulator's TLS rendezvous server (docs/heroku.md §2.7)."""

import threading
import time

import pytest

from herokucd.heroku import (
    DynoCanceled,
    DynoTimeout,
    NoExitStatus,
    Unavailable,
)

from .helpers import is_stopped


def run(heroku, app_name, command, timeout=20, **kwargs):
    lines = []
    status = heroku.run_attached(app_name, command, lines.append, timeout, **kwargs)
    return status, lines


def test_it_streams_each_line_and_returns_the_exit_status(heroku, app_name):
    status, lines = run(heroku, app_name, "echo one; echo two")
    assert (status, lines) == (0, ["one", "two"])


def test_the_dyno_reports_its_status_like_heroku_run_exit_code(heroku, sim, app_name):
    run(heroku, app_name, "true", timeout=20)
    dyno = sim.app_state(app_name)["dynos"][-1]
    assert dyno["command"] == 'true; echo "\uffff heroku-command-exit-status: $?"'
    assert dyno["attach"] is True
    assert dyno["time_to_live"] == 80  # the timeout plus a minute, should this worker die


def test_the_exit_status_marker_never_reaches_the_output(heroku, app_name):
    status, lines = run(heroku, app_name, "printf 'no newline at the end'")
    assert (status, lines) == (0, ["no newline at the end"])


def test_a_failing_command_returns_its_exit_status(heroku, app_name):
    status, lines = run(heroku, app_name, "echo failing >&2; sh -c 'exit 3'")
    assert (status, lines) == (3, ["failing"])


def test_env_is_passed_to_the_dyno(heroku, app_name):
    assert run(heroku, app_name, "echo $GREETING", env={"GREETING": "hello"})[1] == ["hello"]


def test_undecodable_output_is_replaced_not_fatal(heroku, app_name):
    status, lines = run(heroku, app_name, r"printf 'caf\351 ok\n'")
    assert (status, lines) == (0, ["caf\ufffd ok"])


def test_a_dyno_past_its_timeout_raises_dyno_timeout_and_is_stopped(heroku, app_name):
    started = time.monotonic()
    with pytest.raises(DynoTimeout) as caught:
        run(heroku, app_name, "echo started; sleep 30", timeout=1.5)
    assert time.monotonic() - started < 5
    assert caught.value.dyno.startswith("run.")
    assert "did not finish within 1.5s" in str(caught.value)
    assert is_stopped(heroku, app_name, caught.value.dyno)


def test_cancel_stops_the_dyno_within_two_seconds(heroku, app_name):
    cancel = threading.Event()
    lines = []

    def cancel_once_started(line):
        lines.append(line)
        cancel.set()

    started = time.monotonic()
    with pytest.raises(DynoCanceled) as caught:
        heroku.run_attached(app_name, "echo go; sleep 30", cancel_once_started, 30, None, cancel)
    assert time.monotonic() - started < 5  # dyno start plus at most a couple of seconds
    assert lines == ["go"]
    assert is_stopped(heroku, app_name, caught.value.dyno)


def test_output_that_ends_without_the_marker_raises_no_exit_status(heroku, app_name):
    with pytest.raises(NoExitStatus) as caught:
        run(heroku, app_name, "echo bye; kill -9 $$")
    assert caught.value.dyno.startswith("run.")


def test_an_untrusted_rendezvous_certificate_is_refused(heroku, app_name, settings):
    settings.HEROKU_RENDEZVOUS_CA = None  # system trust does not know the simulator's CA
    with pytest.raises(Unavailable, match="TLS failed"):
        run(heroku, app_name, "echo never")


def test_a_dropped_rendezvous_connection_raises_no_exit_status_and_stops_the_dyno(
    heroku, sim, app_name
):
    sim.fault("RENDEZVOUS", status=500, count=1)
    with pytest.raises(NoExitStatus) as caught:
        run(heroku, app_name, "echo never")
    assert is_stopped(heroku, app_name, caught.value.dyno)
