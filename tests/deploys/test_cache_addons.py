"""Cache flushes of the add-ons as Heroku gives them (README: Cache flush add-ons), against real
servers the tests start: MemCachier-style memcached with SASL PLAIN over the binary protocol, a
memcached without authentication, and a Redis with TLS on a self-signed certificate."""

import logging

import django_rq
import pytest
import redis

from deploys.cache_flush import FlushFailed, cache_of, cache_secrets
from deploys.models import State
from tests.cache_servers import SASL_PASSWORD, SASL_USER, TLS_REDIS_PASSWORD
from tests.deploys.test_pipeline import configure, deploy_now, log_text
from tests.projects.test_canary_setup import all_cells, assert_absent, encodings

pytestmark = pytest.mark.django_db(transaction=True)

PRINT_SECRETS = 'echo "memcachier $MEMCACHIER_PASSWORD"; echo "redis $REDIS_URL"'


def set_config_vars(sim, environment, **values):
    sim.api("PATCH", f"/apps/{environment.app_name}/config-vars", json=values)


def memcachier_vars(server, password=SASL_PASSWORD) -> dict:
    return {
        "MEMCACHIER_SERVERS": server.servers,
        "MEMCACHIER_USERNAME": SASL_USER,
        "MEMCACHIER_PASSWORD": password,
    }


def test_a_memcachier_flush_authenticates_with_the_add_on_s_config_vars(
    environment, sim, sasl_memcached
):
    sasl_memcached.set("cached-page", "stale")
    set_config_vars(sim, environment, **memcachier_vars(sasl_memcached))
    configure(environment, cache_flush="memcachier", cache_config_vars="MEMCACHIER_SERVERS")
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert sasl_memcached.get("cached-page") is None
    assert sasl_memcached.flushes == 1
    assert "Flushed the cache at MEMCACHIER_SERVERS (SASL)." in log_text(deploy)


def test_the_cache_password_is_redacted_from_the_whole_log(environment, sim, sasl_memcached):
    """The migration runs before the flush: the password is a secret from the first line."""
    set_config_vars(sim, environment, **memcachier_vars(sasl_memcached))
    configure(
        environment,
        cache_flush="memcachier",
        cache_config_vars="MEMCACHIER_SERVERS",
        migration_command=PRINT_SECRETS,
    )
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    text = log_text(deploy)
    assert "memcachier [redacted]" in text
    assert SASL_PASSWORD not in text


def test_a_wrong_password_fails_the_flush_naming_the_server_never_the_password(
    environment, sim, sasl_memcached
):
    wrong = "not-the-memcachier-password-91c3"
    sasl_memcached.set("cached-page", "stale")
    set_config_vars(sim, environment, **memcachier_vars(sasl_memcached, password=wrong))
    configure(environment, cache_flush="memcachier", cache_config_vars="MEMCACHIER_SERVERS")
    deploy = deploy_now(environment)
    assert deploy.state == State.FAILED
    assert deploy.reason == (
        f"Memcached at 127.0.0.1:{sasl_memcached.port} refused the authentication: check the "
        "user name and password config vars."
    )
    assert deploy.steps.get(name="cache_flush").state == "failed"
    assert sasl_memcached.get("cached-page") == "stale"
    text = log_text(deploy)
    assert deploy.reason in text
    assert wrong not in text and wrong not in deploy.reason


def test_the_cache_passwords_appear_nowhere(
    environment, sim, sasl_memcached, caplog, client_for, alice
):
    """A good and a wrong password, each printed by the migration and sent to memcached: then
    every page, log record, RQ job, deploy log line and database cell is searched for them."""
    caplog.set_level(logging.DEBUG)
    wrong = "not-the-memcachier-password-28d0"
    set_config_vars(sim, environment, **memcachier_vars(sasl_memcached))
    configure(
        environment,
        cache_flush="memcachier",
        cache_config_vars="MEMCACHIER_SERVERS",
        migration_command=PRINT_SECRETS,
    )
    flushed = deploy_now(environment)
    assert flushed.state == State.SUCCEEDED, flushed.reason
    set_config_vars(sim, environment, MEMCACHIER_PASSWORD=wrong)
    refused = deploy_now(environment)
    assert "refused the authentication" in refused.reason
    jobs = django_rq.get_queue("default").jobs
    secrets = {"password": encodings(SASL_PASSWORD), "wrong password": encodings(wrong)}
    admin, slug = client_for(alice), environment.project.slug
    for deploy in (flushed, refused):
        assert_absent(secrets, log_text(deploy), f"the log of deploy #{deploy.number}")
        for path in ("", "log.txt"):
            url = f"/projects/{slug}/deploys/{deploy.number}/{path}"
            response = admin.get(url)
            assert response.status_code == 200
            body = b"".join(response.streaming_content) if response.streaming else response.content
            assert_absent(secrets, body.decode(), f"page {url}")
    for job in jobs:
        assert_absent(secrets, f"{job.description} {job.args!r} {job.kwargs!r}", "an RQ job")
    for record in caplog.records:
        text = f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        assert_absent(secrets, text, f"log record {record.name}")
    for table, cell in all_cells():
        assert_absent(secrets, cell, f"table {table}")


def test_memcachier_without_its_password_config_var_says_which_is_missing(
    environment, sim, sasl_memcached
):
    values = memcachier_vars(sasl_memcached)
    del values["MEMCACHIER_PASSWORD"]
    set_config_vars(sim, environment, **values)
    configure(environment, cache_flush="memcachier", cache_config_vars="MEMCACHIER_SERVERS")
    deploy = deploy_now(environment)
    assert deploy.state == State.FAILED
    assert deploy.reason.startswith(
        "The app has no config var MEMCACHIER_PASSWORD: the memcached servers in "
        "MEMCACHIER_SERVERS are flushed with SASL authentication"
    )
    assert sasl_memcached.flushes == 0


def test_a_memcached_without_sasl_plain_is_refused_before_the_password_is_sent(
    cram_md5_memcached,
):
    values = memcachier_vars(cram_md5_memcached)
    with pytest.raises(FlushFailed) as failed:
        cache_of("memcachier", "MEMCACHIER_SERVERS", values).flush()
    assert str(failed.value) == (
        f"Memcached at 127.0.0.1:{cram_md5_memcached.port} does not offer SASL PLAIN "
        "authentication."
    )


def test_plain_memcached_with_credentials_beside_its_servers_var_uses_sasl(
    environment, sim, sasl_memcached
):
    """Memcached Cloud attached under another name: CACHE_SERVERS, CACHE_USERNAME, ..."""
    sasl_memcached.set("cached-page", "stale")
    set_config_vars(
        sim,
        environment,
        CACHE_SERVERS=sasl_memcached.servers,
        CACHE_USERNAME=SASL_USER,
        CACHE_PASSWORD=SASL_PASSWORD,
    )
    configure(environment, cache_flush="memcached", cache_config_vars="CACHE_SERVERS")
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert sasl_memcached.get("cached-page") is None


def test_memcached_without_credentials_is_flushed_over_the_text_protocol(
    environment, sim, memcached
):
    memcached.set("cached-page", "stale")
    set_config_vars(sim, environment, MEMCACHE_SERVERS=memcached.servers)
    configure(environment, cache_flush="memcached", cache_config_vars="MEMCACHE_SERVERS")
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert memcached.get("cached-page") is None
    assert "Flushed the cache at MEMCACHE_SERVERS." in log_text(deploy)


def test_a_heroku_redis_rediss_url_with_a_self_signed_certificate_is_flushed(
    environment, sim, tls_redis
):
    cache = redis.Redis.from_url(tls_redis, ssl_cert_reqs="none")
    cache.set("cached-page", "stale")
    set_config_vars(sim, environment, REDIS_URL=tls_redis)
    configure(
        environment,
        cache_flush="redis",
        cache_config_vars="REDIS_URL",
        migration_command=PRINT_SECRETS,
    )
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert cache.get("cached-page") is None
    text = log_text(deploy)
    assert "Flushed the cache at REDIS_URL." in text
    assert TLS_REDIS_PASSWORD not in text


def test_a_rediss_url_that_asks_for_certificate_checks_gets_them(environment, sim, tls_redis):
    cache = redis.Redis.from_url(tls_redis, ssl_cert_reqs="none")
    cache.set("cached-page", "stale")
    set_config_vars(sim, environment, REDIS_URL=f"{tls_redis}?ssl_cert_reqs=required")
    configure(environment, cache_flush="redis", cache_config_vars="REDIS_URL")
    deploy = deploy_now(environment)
    assert deploy.state == State.FAILED
    assert deploy.reason == (
        "The Redis cache at 127.0.0.1 did not flush: its TLS certificate is not trusted, and "
        "the URL says ssl_cert_reqs=required."
    )
    assert cache.get("cached-page") == b"stale"


def test_a_redis_url_password_is_redacted_as_written_and_as_sent(environment):
    configure(environment, cache_flush="redis", cache_config_vars="REDIS_URL")
    values = {"REDIS_URL": "rediss://:p%40ss%2Fword-4e1f@cache.example.com:6380"}
    assert cache_secrets(environment, values) == ["p%40ss%2Fword-4e1f", "p@ss/word-4e1f"]
