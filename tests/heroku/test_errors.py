"""Typed errors, retries and timeouts, against the simulator's injected faults."""

import time

import pytest

from herokucd.heroku import (
    Forbidden,
    HerokuClient,
    HerokuError,
    InvalidParams,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
)

from .helpers import refused_url
from .scripted_server import scripted_server


def test_an_unknown_key_raises_unauthorized_in_herokus_words(sim):
    with pytest.raises(Unauthorized) as caught:
        HerokuClient("HRKU-not-a-real-key").account()
    assert caught.value.status == 401
    assert caught.value.id == "unauthorized"
    assert str(caught.value) == caught.value.message == "Invalid credentials provided."


def test_a_malformed_key_is_refused_before_any_call():
    with pytest.raises(Unauthorized, match="malformed"):
        HerokuClient("HRKU-abc\r\nX-Evil: 1")


def test_a_pasted_key_with_surrounding_whitespace_still_works(sim):
    assert HerokuClient(f"  {sim.api_key}\n").account()["email"] == "deployer@example.com"


def test_someone_elses_app_raises_forbidden(heroku):
    with pytest.raises(Forbidden) as caught:
        heroku.app("not-yours-app")
    assert (caught.value.status, caught.value.id) == (403, "forbidden")
    assert "not-yours-app" in str(caught.value)


def test_a_missing_app_raises_not_found(heroku):
    with pytest.raises(NotFound) as caught:
        heroku.app("no-such-app-here")
    assert (caught.value.status, caught.value.id) == (404, "not_found")


def test_invalid_input_raises_invalid_params_with_herokus_message(heroku, app_name):
    with pytest.raises(InvalidParams) as caught:
        heroku.scale(app_name, {"web": -1})
    assert (caught.value.status, caught.value.id) == (422, "invalid_params")
    assert str(caught.value) == "Quantity must be 0 or greater."


def test_an_unmapped_status_is_still_a_heroku_error(heroku, sim):
    sim.fault("GET /account", status=409, count=1, message="Release not ready.")
    with pytest.raises(HerokuError) as caught:
        heroku.account()
    assert type(caught.value) is HerokuError
    assert (caught.value.status, str(caught.value)) == (409, "Release not ready.")


def test_rate_limit_is_retried_until_it_clears(heroku, sim):
    sim.fault("GET /account", status=429, count=2)
    assert heroku.account()["email"] == "deployer@example.com"


def test_rate_limit_raises_rate_limited_when_retries_run_out(heroku, sim):
    sim.fault("GET /account", status=429, count=heroku.retries + 1)
    with pytest.raises(RateLimited) as caught:
        heroku.account()
    assert caught.value.status == 429
    assert heroku.account()  # exactly retries + 1 attempts used up the fault


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_on_idempotent_calls_are_retried(heroku, sim, app_name, status):
    sim.fault("PATCH /apps/{app}", status=status, count=2)
    assert heroku.set_maintenance(app_name, True)["maintenance"] is True


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_raise_unavailable_when_retries_run_out(heroku, sim, status):
    sim.fault("GET /account", status=status, count=heroku.retries + 1)
    with pytest.raises(Unavailable) as caught:
        heroku.account()
    assert caught.value.status == status
    assert str(caught.value).startswith(f"Heroku could not be reached: it answered {status}")


def test_creating_a_dyno_is_never_retried(heroku, sim, app_name):
    sim.fault("POST /apps/{app}/dynos", status=503, count=2)
    with pytest.raises(Unavailable):
        heroku.create_dyno(app_name, "true", attach=False)
    with pytest.raises(Unavailable):  # the second failure was not spent on a retry
        heroku.create_dyno(app_name, "true", attach=False)
    assert heroku.create_dyno(app_name, "true", attach=False)["name"].startswith("run.")


def test_rollback_is_never_retried(heroku, sim, app_name):
    sim.fault("POST /apps/{app}/releases", status=500, count=2)
    with pytest.raises(Unavailable):
        heroku.rollback(app_name, heroku.release(app_name, 1)["id"])
    with pytest.raises(Unavailable):  # the second failure was not spent on a retry
        heroku.rollback(app_name, heroku.release(app_name, 1)["id"])


def test_a_slow_answer_times_out_as_unavailable(sim):
    sim.fault("GET /account", delay=3, count=1)
    slow = HerokuClient(sim.api_key, timeout=(2, 0.5), retries=0)
    started = time.monotonic()
    with pytest.raises(Unavailable) as caught:
        slow.account()
    assert time.monotonic() - started < 2.5
    assert caught.value.status is None
    assert "did not answer in time" in str(caught.value)


def test_a_timeout_is_retried_for_idempotent_calls(sim):
    sim.fault("GET /account", delay=1.5, count=1)
    assert HerokuClient(sim.api_key, timeout=(2, 0.5), backoff=0.01).account()


def test_a_refused_connection_raises_unavailable_saying_so():
    url = refused_url()
    heroku = HerokuClient("HRKU-k", api_url=url, retries=1, backoff=0.01)
    with pytest.raises(Unavailable) as caught:
        heroku.account()
    assert str(caught.value) == (
        f"Heroku could not be reached ({url.removeprefix('http://')}): the connection was refused."
    )
    assert caught.value.__context__ is None and caught.value.__cause__ is None


def test_retry_after_is_honoured():
    script = [
        (429, {"Retry-After": "1"}, {"id": "rate_limit", "message": "Slow down"}),
        (200, {}, {}),
    ]
    with scripted_server(script) as (server, url):
        started = time.monotonic()
        HerokuClient("HRKU-k", api_url=url, backoff=0.01).account()
    assert 0.9 <= time.monotonic() - started < 3
    assert len(server.requests) == 2


def test_a_retry_after_longer_than_max_wait_is_not_waited_for():
    script = [(429, {"Retry-After": "120"}, {"id": "rate_limit", "message": "Slow down"})]
    with scripted_server(script) as (server, url), pytest.raises(RateLimited) as caught:
        HerokuClient("HRKU-k", api_url=url, max_wait=5).account()
    assert caught.value.retry_after == 120
    assert str(caught.value) == "Slow down"
    assert len(server.requests) == 1


def test_a_non_json_error_body_gets_a_plain_message():
    script = [(404, {"Content-Type": "text/html"}, "<html>")]
    with scripted_server(script) as (_, url), pytest.raises(NotFound) as caught:
        HerokuClient("HRKU-k", api_url=url).account()
    assert str(caught.value) == NotFound.default_message
