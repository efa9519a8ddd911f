"""Outbound calls that a user's settings aim cannot reach inside: health checks, notification
webhooks and cache flushes against real servers on 127.0.0.1, refused unless the operator allows
the address in OUTBOUND_ALLOWED_NETWORKS, and never herokucd's own Redis."""

import socket

import django_rq
import pytest
import redis

from deploys.cache_flush import FlushFailed, cache_of
from deploys.models import State
from deploys.trigger_models import NotificationDelivery
from herokucd import http as outbound
from tests.cache_servers import SASL_PASSWORD, SASL_USER, TLS_REDIS_PASSWORD
from tests.deploys.test_pipeline import configure, deploy_now, log_text
from tests.triggers.test_notifications import finished, notify, target

pytestmark = pytest.mark.django_db(transaction=True)

LOOPBACK_REFUSED = (
    "refused: 127.0.0.1 is a loopback address; ask the administrator to allow it in "
    "OUTBOUND_ALLOWED_NETWORKS."
)


@pytest.fixture
def nothing_allowed(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    return settings


# -- the policy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address, words",
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("192.168.0.10", "a private address"),
        ("169.254.169.254", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("224.0.0.1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("240.0.0.1", "a reserved address"),
        ("100.64.0.1", "not a public address"),
    ],
)
def test_every_internal_address_class_is_refused_before_any_connection(
    nothing_allowed, address, words
):
    # A literal address resolves without DNS and is refused before a socket is opened.
    with pytest.raises(outbound.Refused) as refused:
        outbound.resolve(address, 80, "Health check")
    shown = address.removeprefix("::ffff:")  # an IPv4-mapped address is named as IPv4
    assert str(refused.value) == (
        f"Health check refused: {shown} is {words}; ask the administrator to allow it in "
        "OUTBOUND_ALLOWED_NETWORKS."
    )


def test_a_server_on_loopback_is_refused_unless_the_operator_allows_it(serve, settings):
    server = serve()
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    with pytest.raises(outbound.Refused, match=r"127\.0\.0\.1 is a loopback address"):
        outbound.request("GET", server.url, what="Health check")
    assert server.requests == []
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    response = outbound.request("GET", server.url)
    assert (response.status, response.text) == (200, "all good")
    assert server.requests[0]["User-Agent"] == f"herokucd/{settings.VERSION}"


def test_localhost_is_refused_after_resolution(serve, nothing_allowed):
    server = serve()
    url = server.url.replace("127.0.0.1", "localhost")
    with pytest.raises(outbound.Refused, match="is a loopback address"):
        outbound.request("GET", url)
    assert server.requests == []


def test_an_allowed_host_name_lets_that_host_through_and_no_other(serve, settings):
    server = serve()
    settings.OUTBOUND_ALLOWED_NETWORKS = ["localhost"]
    assert outbound.request("GET", server.url.replace("127.0.0.1", "localhost")).status == 200
    with pytest.raises(outbound.Refused, match=r"127\.0\.0\.1 is a loopback address"):
        outbound.request("GET", server.url)


def test_a_redirect_to_an_internal_address_is_refused(serve, settings):
    inside = serve()
    # 127.0.0.2 plays an allowed outside server that redirects to the refused 127.0.0.1.
    outside = serve(host="127.0.0.2", location=inside.url)
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    with pytest.raises(outbound.Refused, match=r"127\.0\.0\.1 is a loopback address"):
        outbound.request("GET", outside.url, what="Health check")
    assert len(outside.requests) == 1 and inside.requests == []
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    assert outbound.request("GET", outside.url).text == "all good"
    assert len(inside.requests) == 1


def test_redirects_are_followed_at_most_three_times(serve):
    loop = serve()
    loop.location = loop.url
    with pytest.raises(outbound.RequestFailed, match="more than 3 redirects"):
        outbound.request("GET", loop.url)
    assert len(loop.requests) == 4


def test_a_body_bigger_than_the_cap_is_read_only_up_to_the_cap(serve):
    big = serve(body=b"x" * 5_000_000 + b"the end")
    response = outbound.request("GET", big.url, max_bytes=100_000)
    assert response.truncated and len(response.body) == 100_000
    assert "the end" not in response.text


def test_the_connection_goes_to_the_checked_address_with_the_host_name_kept(
    serve, settings, monkeypatch
):
    """No DNS-rebinding gap: the name is resolved once, checked, and that address is dialled;
    a later answer (here: none at all) is never asked for."""
    server = serve()
    port = server.server_address[1]
    real, asked = socket.getaddrinfo, []

    def getaddrinfo(host, *args, **kwargs):
        asked.append(host)
        if host == "status.example.test":  # a name only this test knows
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    response = outbound.request("GET", f"http://status.example.test:{port}/health")
    assert response.status == 200
    assert server.requests[0]["Host"] == f"status.example.test:{port}"
    assert asked.count("status.example.test") == 1  # resolved once; the address was dialled


# -- health check -------------------------------------------------------------------------------


def test_a_health_check_of_an_internal_url_is_refused_in_the_log_and_fetches_nothing(
    environment, sim, serve, nothing_allowed
):
    inside = serve(body=b"secret admin page")
    configure(environment, health_check_url=inside.url, health_check_text="secret")
    deploy = deploy_now(environment)
    assert deploy.state == State.FAILED
    assert f"Health check {LOOPBACK_REFUSED}" in log_text(deploy)
    assert deploy.reason == f"Health check {LOOPBACK_REFUSED}"
    # Not an oracle: the answer is the same whatever the internal page holds, and it was never
    # asked for.
    assert inside.requests == []
    assert "healthy" not in log_text(deploy) and "does not contain" not in log_text(deploy)


def test_an_allowed_health_check_reads_only_the_capped_start_of_the_page(
    environment, sim, serve, settings
):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    page = serve(body=b"x" * 3_000_000 + b"ready")
    configure(environment, health_check_url=page.url, health_check_text="ready")
    deploy = deploy_now(environment)
    assert deploy.state == State.FAILED
    assert "the page does not contain 'ready'" in log_text(deploy)


# -- notification webhooks ----------------------------------------------------------------------


def test_a_notification_webhook_to_an_internal_address_is_refused_and_no_status_recorded(
    environment, queue, serve, nothing_allowed, django_capture_on_commit_callbacks
):
    nothing_allowed.NOTIFICATION_RETRY_INTERVALS = []
    inside = serve(status=204)
    hook = target(environment, address=inside.url.replace("/health", "/hooks"))
    notify(finished(environment, State.FAILED), queue, django_capture_on_commit_callbacks)
    attempt = NotificationDelivery.objects.get(target=hook)
    assert attempt.status == NotificationDelivery.FAILED
    assert attempt.response_code is None
    assert attempt.error == f"Notification {LOOPBACK_REFUSED}"
    assert inside.requests == []


# -- cache flush --------------------------------------------------------------------------------


def herokucd_keys():
    """Keys that stand for herokucd's own queue and sessions, in its own Redis."""
    connection = django_rq.get_connection("default")
    connection.set("herokucd-canary:queue", "kept")
    return connection


def flush_with(environment, sim, kind, value):
    sim.api("PATCH", f"/apps/{environment.app_name}/config-vars", json={"CACHE": value})
    configure(environment, cache_flush=kind, cache_config_vars="CACHE")
    return deploy_now(environment)


def test_a_unix_socket_of_herokucd_s_own_redis_is_refused(environment, sim, settings):
    own = herokucd_keys()
    path = own.connection_pool.connection_kwargs.get("path")
    url = f"unix://{path}" if path else "unix:///tmp/redis.sock"
    deploy = flush_with(environment, sim, "redis", url)
    assert deploy.state == State.FAILED
    assert deploy.reason.startswith("Cache flush refused: only redis:// and rediss:// URLs")
    assert own.get("herokucd-canary:queue") == b"kept"


def test_herokucd_s_own_redis_host_and_port_is_refused_even_when_allowed(
    environment, sim, settings, app_redis
):
    if settings.EMBEDDED_REDIS:
        # herokucd's own Redis is on a unix socket here: make a TCP one play it.
        settings.REDIS_URL = app_redis
        settings.RQ_QUEUES = {"default": {"URL": app_redis}}
    own = redis.Redis.from_url(settings.REDIS_URL)
    own.set("herokucd-canary:queue", "kept")
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    kwargs = own.connection_pool.connection_kwargs
    spelled_otherwise = f"redis://localhost:{kwargs['port']}/{kwargs.get('db', 0)}"
    deploy = flush_with(environment, sim, "redis", spelled_otherwise)
    assert deploy.state == State.FAILED
    assert "is herokucd's own Redis (its queue and sessions)" in deploy.reason
    assert own.get("herokucd-canary:queue") == b"kept"


def test_herokucd_s_own_redis_is_refused_behind_a_rebinding_name(settings, monkeypatch, app_redis):
    """A name the app's owner controls answers a harmless address when herokucd compares it
    with its own Redis, then herokucd's Redis when the flush connects: the flush must use the
    answer it compared, not ask DNS again."""
    settings.REDIS_URL = app_redis  # herokucd's own Redis, on TCP, for this test
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    own = redis.Redis.from_url(app_redis)
    own.set("herokucd-canary:queue", "kept")
    port = own.connection_pool.connection_kwargs["port"]
    real, answers, asked = socket.getaddrinfo, iter(["203.0.113.7", "127.0.0.1", "127.0.0.1"]), []

    def getaddrinfo(host, *args, **kwargs):
        asked.append(host)
        if host == "rebind.example.test":  # a name only this test knows
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), args[0]))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    values = {"CACHE": f"redis://rebind.example.test:{port}/0"}
    with pytest.raises(FlushFailed):
        cache_of("redis", "CACHE", values).flush()
    assert own.get("herokucd-canary:queue") == b"kept"
    assert asked.count("rebind.example.test") == 1  # the compared answer is the one used


def test_a_redis_cache_on_an_internal_host_is_refused_unless_allowed(
    environment, sim, settings, app_redis
):
    cache = redis.Redis.from_url(app_redis)
    cache.set("cached-page", "stale")
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    deploy = flush_with(environment, sim, "redis", app_redis)
    assert deploy.reason == f"Cache flush {LOOPBACK_REFUSED}"
    assert cache.get("cached-page") == b"stale"
    assert f"Cache flush {LOOPBACK_REFUSED}" in log_text(deploy)


def test_memcached_mode_to_an_internal_host_is_refused_unless_allowed(
    environment, sim, settings, memcached
):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    deploy = flush_with(environment, sim, "memcached", f"127.0.0.1:{memcached.port}")
    assert deploy.state == State.FAILED
    assert deploy.reason == f"Cache flush {LOOPBACK_REFUSED}"
    assert memcached.flushes == 0
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    deploy = flush_with(environment, sim, "memcached", f"127.0.0.1:{memcached.port}")
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert memcached.flushes == 1


def sasl_vars(server, name="CACHE") -> dict:
    return {
        f"{name}_SERVERS": server.servers,
        f"{name}_USERNAME": SASL_USER,
        f"{name}_PASSWORD": SASL_PASSWORD,
    }


def test_a_sasl_memcached_on_an_internal_host_is_refused_before_any_password_is_sent(
    environment, sim, settings, sasl_memcached
):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    sim.api("PATCH", f"/apps/{environment.app_name}/config-vars", json=sasl_vars(sasl_memcached))
    configure(environment, cache_flush="memcachedcloud", cache_config_vars="CACHE_SERVERS")
    deploy = deploy_now(environment)
    assert deploy.state == State.FAILED
    assert deploy.reason == f"Cache flush {LOOPBACK_REFUSED}"
    assert sasl_memcached.client().stats()["auth_cmds"] == b"1"  # the test's own, no other


def test_a_sasl_memcached_flush_dials_the_checked_address_with_the_host_name_kept(
    settings, monkeypatch, sasl_memcached
):
    """No DNS-rebinding gap with the memcached library either: it gets the checked address."""
    real, asked = socket.getaddrinfo, []

    def getaddrinfo(host, *args, **kwargs):
        asked.append(host)
        if host == "mc1.example.test":  # a name only this test knows
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", args[0]))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    servers = f"mc1.example.test:{sasl_memcached.port}"
    values = {**sasl_vars(sasl_memcached), "CACHE_SERVERS": servers}
    cache_of("memcachier", "CACHE_SERVERS", values).flush()
    assert sasl_memcached.flushes == 1
    assert asked.count("mc1.example.test") == 1  # resolved once; the address was dialled
    values["CACHE_PASSWORD"] = "a-wrong-password-5e2b"
    with pytest.raises(FlushFailed) as failed:
        cache_of("memcachier", "CACHE_SERVERS", values).flush()
    assert str(failed.value).startswith(f"Memcached at {servers} refused the authentication")


def test_a_rediss_cache_on_an_internal_host_is_refused_unless_allowed(
    environment, sim, settings, tls_redis
):
    cache = redis.Redis.from_url(tls_redis, ssl_cert_reqs="none")
    cache.set("cached-page", "stale")
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    deploy = flush_with(environment, sim, "redis", tls_redis)
    assert deploy.reason == f"Cache flush {LOOPBACK_REFUSED}"
    assert cache.get("cached-page") == b"stale"


def test_herokucd_s_own_redis_is_refused_as_rediss_too(environment, sim, settings, app_redis):
    """Turning certificate checks off for rediss:// opens no way around the own-Redis rule."""
    if settings.EMBEDDED_REDIS:
        settings.REDIS_URL = app_redis
        settings.RQ_QUEUES = {"default": {"URL": app_redis}}
    own = redis.Redis.from_url(settings.REDIS_URL)
    own.set("herokucd-canary:queue", "kept")
    kwargs = own.connection_pool.connection_kwargs
    url = f"rediss://127.0.0.1:{kwargs['port']}/{kwargs.get('db', 0)}?ssl_cert_reqs=none"
    deploy = flush_with(environment, sim, "redis", url)
    assert deploy.state == State.FAILED
    assert "is herokucd's own Redis (its queue and sessions)" in deploy.reason
    assert own.get("herokucd-canary:queue") == b"kept"


@pytest.mark.parametrize(
    "option",
    [
        "ssl_keyfile=/etc/ssl/private/herokucd.key",
        "ssl_ca_certs=/etc/shadow",
        "ssl_check_hostname=false",
        "path=/run/redis/redis.sock",
    ],
)
def test_redis_url_options_that_reach_herokucd_s_own_files_are_refused(
    environment, sim, tls_redis, option
):
    """A config var is the app's to write: it may not have herokucd read a key or CA file of
    its own, nor pick a unix socket through an option."""
    cache = redis.Redis.from_url(tls_redis, ssl_cert_reqs="none")
    cache.set("cached-page", "stale")
    deploy = flush_with(environment, sim, "redis", f"{tls_redis}?{option}")
    assert deploy.state == State.FAILED
    name = option.partition("=")[0]
    assert deploy.reason == (
        f"Cache flush refused: the URL's option '{name}' is not one herokucd takes (only db, "
        "and ssl_cert_reqs on rediss://)."
    )
    assert cache.get("cached-page") == b"stale"
    assert TLS_REDIS_PASSWORD not in deploy.reason


@pytest.mark.parametrize("mark", ["?", "#", "/", "?a=1&"])
def test_a_redis_password_with_an_unencoded_mark_is_refused_without_showing_any_of_it(
    environment, sim, app_redis, mark
):
    """A password holding ?, # or / not percent-encoded cuts the URL before its @: what follows
    reads as the URL's query, fragment or path. No part of it may reach the reason or the log
    (a viewer reads both), e.g. as the name of an unknown option."""
    tail = "tail-of-the-cache-password"
    port = redis.Redis.from_url(app_redis).connection_pool.connection_kwargs["port"]
    deploy = flush_with(environment, sim, "redis", f"redis://:s3cr{mark}{tail}@127.0.0.1:{port}/0")
    assert deploy.state == State.FAILED
    assert deploy.reason.startswith("Cache flush refused: the URL holds an @ after its host")
    assert tail not in deploy.reason
    assert tail not in log_text(deploy)


def test_a_password_read_as_the_port_is_not_quoted():
    """`redis://:PASSWORD` (no host): Python reads the password as the port, and its error
    would quote it."""
    with pytest.raises(FlushFailed) as failed:
        cache_of("redis", "CACHE", {"CACHE": "redis://:the-cache-password-9f1"}).flush()
    assert str(failed.value) == (
        "The cache URL is not a Redis URL: its port is not a number from 1 to 65535."
    )


def test_ssl_cert_reqs_on_a_plain_redis_url_is_refused(environment, sim, app_redis):
    deploy = flush_with(environment, sim, "redis", f"{app_redis}?ssl_cert_reqs=none")
    assert deploy.reason == (
        "Cache flush refused: ssl_cert_reqs is none or required, on a rediss:// URL only."
    )
