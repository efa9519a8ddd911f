"""The API key must never show up in an exception, a repr or a log record."""

import logging
import traceback

import pytest

from herokucd.heroku import HerokuClient, HerokuError

from .helpers import refused_url

FAKE_KEY = "HRKU-AAleakcheck0000000000000000000000000000000000000000000000"


def everything_said_about(error):
    """All the text an error could show: message, repr, traceback, attributes."""
    parts = [str(error), repr(error), *map(repr, error.args), repr(vars(error))]
    parts.append("".join(traceback.format_exception(error)))
    return "\n".join(parts)


def everything_logged(caplog):
    records = caplog.records
    return "\n".join([caplog.text, *(r.getMessage() + repr(r.args) for r in records)])


@pytest.fixture
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    return caplog


def failures(sim, key):
    """Make the client fail in each way it can, returning what it raised."""
    heroku = HerokuClient(key, timeout=(2, 0.3), backoff=0.01)
    errors = []
    for fault in ({"status": 503, "count": 9}, {"status": 429, "count": 9}, {"delay": 1}):
        sim.fault("GET /account", **fault)
        with pytest.raises(HerokuError) as caught:
            heroku.account()
        errors.append(caught.value)
        sim.reset()
    with pytest.raises(HerokuError) as caught:
        HerokuClient(key, api_url=refused_url(), retries=0).account()
    return [*errors, caught.value]


def test_a_rejected_key_appears_in_no_error_repr_or_log(sim, debug_logs):
    heroku = HerokuClient(FAKE_KEY)
    with pytest.raises(HerokuError) as caught:
        heroku.account()
    assert FAKE_KEY not in everything_said_about(caught.value) + repr(heroku)
    assert FAKE_KEY not in everything_logged(debug_logs)
    assert debug_logs.records  # the calls were logged, just not the key


def test_a_valid_key_appears_in_no_error_or_log_when_calls_fail(sim, debug_logs):
    errors = failures(sim, sim.api_key)
    assert len(errors) == 4
    for error in errors:
        assert sim.api_key not in everything_said_about(error)
    assert sim.api_key not in everything_logged(debug_logs)


def test_a_key_is_not_in_logs_of_an_attached_run(heroku, sim, debug_logs, app_name):
    heroku.run_attached(app_name, "echo hi", lambda line: None, 20)
    assert sim.api_key not in everything_logged(debug_logs) + repr(heroku)


def test_a_malformed_key_is_not_echoed_back():
    secret = "HRKU-" + "s3cr" * 4  # built here so the traceback's source line cannot show it
    with pytest.raises(HerokuError) as caught:
        HerokuClient(secret + "\nsecond-line")
    assert "s3cr" * 4 not in everything_said_about(caught.value)
