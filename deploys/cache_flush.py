"""Flush an app's cache after a deploy: FLUSHDB on a Redis, `flush_all` on memcached servers.

The URL comes from the app's config vars, which anyone who can set config vars controls, so it
passes the outbound policy of herokucd/http.py: no unix sockets, no internal address unless the
operator allowed it, and never herokucd's own Redis (its queue and sessions), whatever is allowed.
The connection goes to the address that was checked.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

import redis
from django.conf import settings

from herokucd import http
from projects.models import CacheFlush

TIMEOUT_SECONDS = 10
WHAT = "Cache flush"


class FlushFailed(Exception):
    """The flush was refused or did not happen; the message never holds the URL."""


def flush_cache(kind, url):
    if kind == CacheFlush.REDIS:
        flush_redis(url)
    else:
        for host, port in memcached_servers(url):
            flush_memcached(host, port)


# Redis


def flush_redis(url):
    kwargs = redis_target(url)
    port, db = kwargs["port"], kwargs.get("db", 0)
    if {(_same(ip), port, db) for ip in _addresses(kwargs["host"], port)} & own_redis_addresses():
        raise FlushFailed(
            f"{WHAT} refused: {kwargs['host']}:{port} db {db} is herokucd's own Redis "
            "(its queue and sessions); give the app a cache of its own."
        )
    ip = checked_address(kwargs["host"], port)
    ssl = kwargs.pop("connection_class", redis.Connection) is redis.SSLConnection
    pool = redis.ConnectionPool(connection_class=_pinned(ssl, ip), **kwargs)
    client = redis.Redis(connection_pool=pool)
    try:
        client.flushdb()
    except redis.RedisError as error:
        raise FlushFailed(f"The Redis cache did not flush ({type(error).__name__}).") from None
    finally:
        client.close()
        pool.disconnect()


def redis_target(url) -> dict:
    """The connection settings of a redis:// or rediss:// URL; refuses unix sockets."""
    if urlsplit(url).scheme not in ("redis", "rediss"):
        raise FlushFailed(
            f"{WHAT} refused: only redis:// and rediss:// URLs are flushed "
            "(unix sockets and other schemes reach this machine, not the app's cache)."
        )
    try:
        kwargs = redis.connection.parse_url(url)
    except ValueError as error:
        raise FlushFailed(f"The cache URL is not a Redis URL: {error}") from None
    kwargs.setdefault("host", "localhost")
    kwargs.setdefault("port", 6379)
    kwargs.update(socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS)
    return kwargs


def own_redis_addresses() -> set:
    """(address, port, db) of herokucd's own Redis, any loopback address counting as one; empty
    when it is on a unix socket (every unix socket is refused anyway)."""
    kwargs = redis.connection.parse_url(settings.REDIS_URL)
    if kwargs.get("path") or urlsplit(settings.REDIS_URL).scheme == "unix":
        return set()
    host, port, db = kwargs.get("host", "localhost"), kwargs.get("port", 6379), kwargs.get("db", 0)
    return {(_same(ip), port, db) for ip in _addresses(host, port)}


def _same(ip) -> str:
    """One name for the addresses that reach the same server: every loopback, and a server
    listening on all addresses, is "this machine"."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return "this machine" if ip.is_loopback or ip.is_unspecified else str(ip)


def _addresses(host, port) -> list:
    """Every address of `host` (none when it does not resolve), before any policy."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def _pinned(ssl: bool, ip):
    base = redis.SSLConnection if ssl else redis.Connection

    class Pinned(base):
        """Connects to the checked address; TLS still checks the certificate of the host."""

        def _connect(self):
            sock = socket.create_connection((str(ip), self.port), self.socket_connect_timeout)
            sock.settimeout(self.socket_timeout)
            return self._wrap_socket_with_ssl(sock) if ssl else sock

    return Pinned


# Memcached


def memcached_servers(value):
    for part in value.split(","):
        part = part.strip()
        parsed = urlsplit(part if "://" in part else f"memcached://{part}")
        if not parsed.hostname:
            raise FlushFailed(f"{WHAT} refused: a memcached server needs a host:port.")
        try:
            yield parsed.hostname, parsed.port or 11211
        except ValueError:
            raise FlushFailed("A memcached server's port is not a number.") from None


def flush_memcached(host, port):
    ip = checked_address(host, port)
    try:
        with socket.create_connection((str(ip), port), timeout=TIMEOUT_SECONDS) as sock:
            sock.sendall(b"flush_all\r\n")
            answer = sock.recv(64)
    except OSError as error:
        raise FlushFailed(f"Memcached at {host} did not answer ({type(error).__name__}).") from None
    if not answer.startswith(b"OK"):
        raise FlushFailed(f"Memcached at {host} did not confirm the flush.")


def checked_address(host, port):
    try:
        return http.resolve(host, port, WHAT)[0]
    except http.Refused as refused:
        raise FlushFailed(str(refused)) from None
    except http.RequestFailed as error:
        raise FlushFailed(f"The cache could not be reached: {error}.") from None
