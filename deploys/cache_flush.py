"""Flush an app's cache after a deploy: FLUSHDB on a Redis, a flush on memcached servers.

The URL comes from the app's config vars, which anyone who can set config vars controls, so it
passes the outbound policy of herokucd/http.py: no unix sockets, no internal address unless the
operator allowed it, and never herokucd's own Redis (its queue and sessions), whatever is allowed.
The connection goes to the address that was checked.

Memcached servers named by NAME_SERVERS with NAME_USERNAME and NAME_PASSWORD beside them (how
MemCachier and Memcached Cloud name theirs) are flushed over the binary protocol with SASL PLAIN,
through python-binary-memcached; without them, over the text protocol (`flush_all`). A rediss://
URL is flushed over TLS without checking the certificate, as Heroku says to connect to its Redis
(self-signed certificates; docs/heroku.md §9), unless the URL asks `?ssl_cert_reqs=required`.
Passwords are read from the app at deploy time, never stored; the pipeline redacts them.
"""

import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from bmemcached.exceptions import AuthenticationNotSupported, MemcachedException
from bmemcached.protocol import Protocol
from django.conf import settings

from herokucd import http
from projects.models import SASL_CACHES, CacheFlush, Environment

TIMEOUT_SECONDS = 10
WHAT = "Cache flush"


# The status of memcached's binary protocol for a refused authentication (its spec, 0x0020)
# and the one python-binary-memcached names auth_error (0x0008).
AUTH_STATUSES = {0x20, 0x08}
# URL options a cache URL may carry; any other (a key file, a CA path) is refused.
REDIS_OPTIONS = {"db", "ssl_cert_reqs"}
# A server that needs SASL does not answer the text protocol.
SASL_HINT = (
    ": if it needs a user name and password, put them in NAME_USERNAME and NAME_PASSWORD "
    "beside NAME_SERVERS."
)


class FlushFailed(Exception):
    """The flush was refused or did not happen; the message never holds the URL."""


@dataclass
class Cache:
    """One config var's cache, read from the app's config vars at deploy time."""

    kind: str
    name: str  # the config var
    value: str
    username: str = ""
    password: str = field(default="", repr=False)

    @property
    def how(self) -> str:
        return " (SASL)" if self.password else ""

    def flush(self):
        if self.kind == CacheFlush.REDIS:
            flush_redis(self.value)
            return
        for host, port in memcached_servers(self.value):
            if self.password:
                flush_memcached_sasl(host, port, self.username, self.password)
            else:
                flush_memcached(host, port)


def cache_of(kind, name, values) -> Cache:
    """The cache config var `name` holds among the app's config vars `values`."""
    if not values.get(name):
        raise FlushFailed(f"The app has no config var {name} to find its cache.")
    cache = Cache(kind, name, values[name])
    if kind == CacheFlush.REDIS:
        return cache
    user_var, password_var = credential_names(name)
    cache.username, cache.password = values.get(user_var, ""), values.get(password_var, "")
    if kind in SASL_CACHES or cache.username or cache.password:
        for var, value in ((user_var, cache.username), (password_var, cache.password)):
            if not value:
                raise FlushFailed(
                    f"The app has no config var {var}: the memcached servers in {name} are "
                    f"flushed with SASL authentication, which needs {user_var} and {password_var}."
                )
    return cache


def cache_secrets(environment, values) -> list[str]:
    """The passwords of `environment`'s caches among the app's config vars `values`, for the
    log redaction: a memcached NAME_PASSWORD, a Redis URL's password."""
    found = []
    for name in Environment.split_names(environment.cache_config_vars):
        if environment.cache_flush == CacheFlush.REDIS:
            found += _url_passwords(values.get(name, ""))
        else:
            found.append(values.get(credential_names(name)[1]))
    return [secret for secret in found if secret]


def _url_passwords(url) -> list[str]:
    """A URL's password as written and as sent (percent-decoded)."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    return [password, unquote(password)] if password else []


def credential_names(name) -> tuple[str, str]:
    """MEMCACHIER_SERVERS -> (MEMCACHIER_USERNAME, MEMCACHIER_PASSWORD), as the add-ons name
    them (docs/heroku.md §9); any other name gets NAME_USERNAME and NAME_PASSWORD."""
    prefix = name.removesuffix("_SERVERS")
    return f"{prefix}_USERNAME", f"{prefix}_PASSWORD"


# Redis


def flush_redis(url):
    kwargs = redis_target(url)
    host, port, db = kwargs["host"], kwargs["port"], kwargs.get("db", 0)
    # Resolved once: the addresses compared with herokucd's own Redis are the ones checked and
    # dialled, so a second DNS answer cannot swap herokucd's Redis in (DNS rebinding).
    addresses = _addresses(host, port)
    if {(_same(ip), port, db) for ip in addresses} & own_redis_addresses():
        raise FlushFailed(
            f"{WHAT} refused: {host}:{port} db {db} is herokucd's own Redis "
            "(its queue and sessions); give the app a cache of its own."
        )
    ip = _checked(addresses, host)
    ssl = kwargs.pop("connection_class", redis.Connection) is redis.SSLConnection
    pool = redis.ConnectionPool(connection_class=_pinned(ssl, ip), **kwargs)
    client = redis.Redis(connection_pool=pool)
    try:
        client.flushdb()
    except redis.RedisError as error:
        if "CERTIFICATE_VERIFY_FAILED" in str(error):  # redis-py keeps only the SSL error's text
            raise FlushFailed(
                f"The Redis cache at {kwargs['host']} did not flush: its TLS certificate is not "
                "trusted, and the URL says ssl_cert_reqs=required."
            ) from None
        raise FlushFailed(f"The Redis cache did not flush ({type(error).__name__}).") from None
    finally:
        client.close()
        pool.disconnect()


def redis_target(url) -> dict:
    """The connection settings of a redis:// or rediss:// URL; refuses unix sockets, and URL
    options that would have herokucd read its own files (a key file, a CA path)."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise FlushFailed(
            f"{WHAT} refused: only redis:// and rediss:// URLs are flushed "
            "(unix sockets and other schemes reach this machine, not the app's cache)."
        )
    if "@" in parts.path + parts.query + parts.fragment:
        # A password with ?, # or / left as they are ends the URL's host part early: the rest
        # of it would read as a query, path or port, and be shown in a message below.
        raise FlushFailed(
            f"{WHAT} refused: the URL holds an @ after its host: percent-encode ?, # and / in "
            "its user name or password (%3F, %23, %2F)."
        )
    options = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(options) - REDIS_OPTIONS)
    if unknown:
        raise FlushFailed(
            f"{WHAT} refused: the URL's option {unknown[0][:40]!r} is not one herokucd takes "
            "(only db, and ssl_cert_reqs on rediss://)."
        )
    try:
        kwargs = redis.connection.parse_url(url)
    except ValueError as error:
        if "Port" in str(error):  # it would quote the port: not shown, it may be a password
            raise FlushFailed(
                "The cache URL is not a Redis URL: its port is not a number from 1 to 65535."
            ) from None
        raise FlushFailed(f"The cache URL is not a Redis URL: {error}") from None
    _set_tls(kwargs, parts.scheme, options.get("ssl_cert_reqs"))
    kwargs.setdefault("host", "localhost")
    kwargs.setdefault("port", 6379)
    kwargs.update(socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS)
    return kwargs


def _set_tls(kwargs, scheme, asked):
    """Heroku's Redis certificates are self-signed and Heroku says to connect without checking
    them: a rediss:// URL is encrypted but not verified, unless it says ssl_cert_reqs=required."""
    if asked and (scheme != "rediss" or asked[-1] not in ("none", "required")):
        raise FlushFailed(
            f"{WHAT} refused: ssl_cert_reqs is none or required, on a rediss:// URL only."
        )
    if scheme == "rediss":
        kwargs["ssl_cert_reqs"] = asked[-1] if asked else "none"


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
        """Connects to the checked address; TLS names the host (SNI), and checks its
        certificate when ssl_cert_reqs=required."""

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
    """The text protocol's `flush_all`, with no authentication, to the checked address."""
    ip = checked_address(host, port)
    where = f"Memcached at {host}:{port}"
    try:
        with socket.create_connection((str(ip), port), timeout=TIMEOUT_SECONDS) as sock:
            sock.sendall(b"flush_all\r\n")
            answer = sock.recv(64)
    except OSError as error:
        raise FlushFailed(f"{where} did not answer ({type(error).__name__}){SASL_HINT}") from None
    if not answer.startswith(b"OK"):
        raise FlushFailed(f"{where} did not confirm the flush{SASL_HINT}")


def flush_memcached_sasl(host, port, username, password):
    """The binary protocol's flush after SASL PLAIN, to the checked address; messages name the
    host, never the password."""
    ip = checked_address(host, port)
    server = _Server(_server_address(ip, port), username, password, socket_timeout=TIMEOUT_SECONDS)
    where = f"Memcached at {host}:{port}"
    try:
        server.flush_all(0)
    except AuthenticationNotSupported:
        raise FlushFailed(f"{where} does not offer SASL PLAIN authentication.") from None
    except MemcachedException as error:
        if error.code in AUTH_STATUSES:
            raise FlushFailed(
                f"{where} refused the authentication: check the user name and password config vars."
            ) from None
        raise FlushFailed(f"{where} refused the flush (status {error.code}).") from None
    except OSError as error:
        raise FlushFailed(f"{where} did not answer ({type(error).__name__}).") from None
    finally:
        server.disconnect()


class _Server(Protocol):
    """python-binary-memcached's server, but a lost connection is an error: the library
    counts a flush that got no answer as done."""

    def _connection_error(self, exception):
        super()._connection_error(exception)
        raise exception


def _server_address(ip, port) -> str:
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def _checked(addresses, host):
    """The first of `host`'s already resolved `addresses`, every one passing the policy."""
    if not addresses:
        raise FlushFailed(f"The cache could not be reached: the host {host} does not resolve.")
    try:
        for ip in addresses:
            http.check_address(ip, host, WHAT)
    except http.Refused as refused:
        raise FlushFailed(str(refused)) from None
    return addresses[0]


def checked_address(host, port):
    try:
        return http.resolve(host, port, WHAT)[0]
    except http.Refused as refused:
        raise FlushFailed(str(refused)) from None
    except http.RequestFailed as error:
        raise FlushFailed(f"The cache could not be reached: {error}.") from None
