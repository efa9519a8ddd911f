"""The one way out for HTTP calls that a user's settings aim: health checks, notification webhooks.

A user who can edit an environment could otherwise point herokucd's workers at anything they can
reach: the embedded Redis, a cloud metadata service, an admin page on the private network. So:

1. The host is resolved here, and every address it resolves to must be public (not loopback,
   link-local, private, multicast, reserved or unspecified, IPv4-mapped IPv6 included) unless the
   operator lists it in `OUTBOUND_ALLOWED_NETWORKS` (networks such as `10.0.0.0/8`, or host names).
2. The connection goes to the address that was checked (the Host header and TLS SNI still name the
   host), so a second DNS answer cannot swap in an internal address between check and connect.
3. Redirects are followed by hand, at most `MAX_REDIRECTS`, each one checked again.
4. At most `max_bytes` of a body are read, and the whole call is bounded by `timeout` seconds.

The Heroku Platform API client (herokucd/heroku.py) does not come through here: it only talks to
the endpoints the operator configured. Model: healthchecks' hc/lib/curl.py.
"""

import contextlib
import ipaddress
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import urllib3
from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

MAX_REDIRECTS = 3
MAX_BYTES = 1_000_000
TIMEOUT_SECONDS = 10
ALLOW_HINT = "ask the administrator to allow it in OUTBOUND_ALLOWED_NETWORKS"
MASK = "••••"


class Refused(Exception):
    """The policy refused the call; the message says why and what to do (never holds user info)."""


class RequestFailed(Exception):
    """The call was allowed but did not get an answer (no connection, timeout, bad TLS)."""


class Idle(RequestFailed):
    """A streamed answer sent nothing for its idle timeout (`stream`)."""


@dataclass
class Response:
    status: int
    body: bytes
    truncated: bool  # the body was longer than max_bytes; `body` is its start

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


# The policy


def address_class(ip) -> str | None:
    """What kind of internal address `ip` is ("a loopback address"), or None when public."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for attribute, words in [
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_reserved", "a reserved address"),
        ("is_private", "a private address"),
    ]:
        if getattr(ip, attribute):
            return words
    return None if ip.is_global else "not a public address"


def allowed_entries() -> tuple[list, set]:
    """OUTBOUND_ALLOWED_NETWORKS split into networks and host names."""
    networks, hosts = [], set()
    for entry in getattr(settings, "OUTBOUND_ALLOWED_NETWORKS", []):
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            hosts.add(entry.strip().lower().rstrip("."))
    return networks, hosts


def is_allowed(ip, host: str = "") -> bool:
    networks, hosts = allowed_entries()
    plain = ip.ipv4_mapped if getattr(ip, "ipv4_mapped", None) else ip
    return host.lower().rstrip(".") in hosts or any(plain in net for net in networks)


def check_address(ip, host: str, what: str) -> None:
    """Raise Refused when `ip` (an address of `host`) is internal and not allowed."""
    kind = address_class(ip)
    if kind and not is_allowed(ip, host):
        shown = getattr(ip, "ipv4_mapped", None) or ip  # ::ffff:7f00:1 reads as 127.0.0.1
        raise Refused(f"{what} refused: {shown} is {kind}; {ALLOW_HINT}.")


def resolve(host: str, port: int, what: str = "The call") -> list:
    """The addresses of `host`, every one checked; Refused if any is internal."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise RequestFailed(f"the host {host} does not resolve") from None
    found = (ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos)
    addresses = list(dict.fromkeys(found))
    for ip in addresses:
        check_address(ip, host, what)
    return addresses


def check_url(url: str, what: str = "The call") -> None:
    """For forms: Refused when `url` is not http(s) or its host is (or resolves to) internal.
    A host that does not resolve now is let through: it is checked again at every call."""
    parts = split(url, what)
    with contextlib.suppress(RequestFailed):
        resolve(parts.hostname, port_of(parts), what)


def split(url: str, what: str):
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(f"{what} refused: only http:// and https:// URLs with a host can be called.")
    return parts


def port_of(parts) -> int:
    try:
        return parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused("The URL's port is not a number from 1 to 65535.") from None


# Display


def masked(url: str) -> str:
    """`url` with its password replaced by •••• (https://monitor:••••@host/...), as pages and
    log lines show it; a user name alone is often a token, so it is masked whole."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    shown = f"{parts.username}:{MASK}" if parts.password is not None else MASK
    return urlunsplit(parts._replace(netloc=f"{shown}@{host}"))


def split_userinfo(url: str) -> tuple[str, str]:
    """(`url` without its user info, the user info "user:password" or ""), for storing the
    user info encrypted apart from the URL."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, ""
    userinfo, host = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=host)), userinfo


def with_userinfo(url: str, userinfo: str) -> str:
    """`url` with `userinfo` put back, for the call itself."""
    if not (url and userinfo):
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))


# The call


class PinnedHTTPConnection(HTTPConnection):
    """Connects to the checked addresses (`pinned`, in order), while Host and SNI still name
    the host."""

    pinned = ()

    def _new_conn(self):
        error = None
        for ip in self.pinned:
            try:
                return socket.create_connection((str(ip), self.port), self.timeout)
            except TimeoutError:
                error = RequestFailed("no answer in time")
            except OSError as failure:  # passes through urllib3, which would name only its class
                error = RequestFailed(f"could not connect ({_reason(failure)})")
        raise error


class PinnedHTTPSConnection(PinnedHTTPConnection, HTTPSConnection):
    pass


def _pool(parts, addresses, timeout):
    secure = parts.scheme == "https"
    pool_class = HTTPSConnectionPool if secure else HTTPConnectionPool
    connection = PinnedHTTPSConnection if secure else PinnedHTTPConnection
    pool = pool_class(parts.hostname, port_of(parts), timeout=timeout, retries=False, maxsize=1)
    pool.ConnectionCls = type("Pinned", (connection,), {"pinned": tuple(addresses)})
    return pool


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict | None = None,
    what: str = "The call",
    redirects: int = MAX_REDIRECTS,
    max_bytes: int = MAX_BYTES,
    timeout: float = TIMEOUT_SECONDS,
) -> Response:
    """One call through the policy. Raises Refused (the policy said no) or RequestFailed."""
    deadline = time.monotonic() + timeout
    for _ in range(redirects + 1):
        response = _one(method, url, body, headers, what, deadline)
        location = response.headers.get("Location")
        if response.status not in (301, 302, 303, 307, 308) or not location or not redirects:
            return _read(response, max_bytes, deadline)
        response.release_conn()
        url = urljoin(url, location)
        if response.status == 303 or (response.status in (301, 302) and method == "POST"):
            method, body = "GET", None
    raise RequestFailed(f"more than {redirects} redirects")


def _one(method, url, body, headers, what, deadline, read_timeout=None):
    parts = split(url, what)
    addresses = resolve(parts.hostname, port_of(parts), what)
    remaining = _remaining(deadline)
    path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    all_headers = {"User-Agent": f"herokucd/{settings.VERSION}", **(headers or {})}
    if parts.username is not None:
        auth = urllib3.make_headers(
            basic_auth=f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        )
        all_headers["Authorization"] = auth["authorization"]
    read = read_timeout or remaining
    pool = _pool(parts, addresses, urllib3.Timeout(connect=remaining, read=read))
    try:
        return pool.urlopen(
            method, path, body=body, headers=all_headers, redirect=False, preload_content=False
        )
    except urllib3.exceptions.TimeoutError:
        raise RequestFailed("no answer in time") from None
    except urllib3.exceptions.HTTPError as error:
        raise RequestFailed(f"could not connect ({type(error).__name__})") from None


def _read(response, max_bytes, deadline) -> Response:
    """At most max_bytes of the body, stopping at the deadline: a slow or endless body costs
    neither memory nor more time than the call was given."""
    chunks, size = [], 0
    try:
        while size <= max_bytes:
            _remaining(deadline)
            chunk = response.read(min(65536, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise RequestFailed(f"the answer broke off ({type(error).__name__})") from None
    finally:
        response.release_conn()
        response.close()
    data = b"".join(chunks)
    return Response(response.status, data[:max_bytes], truncated=size > max_bytes)


class Stream:
    """An answer whose body is read as it arrives (`stream()`)."""

    def __init__(self, response, idle_timeout):
        self.status = response.status
        self.headers = response.headers
        self._response = response
        self.idle_timeout = idle_timeout

    def chunks(self) -> Iterator[bytes]:
        """The body's bytes as they come, until its end; Idle when nothing came for
        `idle_timeout` seconds, RequestFailed when the connection broke."""
        while True:
            try:
                chunk = self._response.read1(65536)
            except urllib3.exceptions.ReadTimeoutError:
                raise Idle(f"nothing came for {self.idle_timeout:g}s") from None
            except (urllib3.exceptions.HTTPError, OSError) as error:
                raise RequestFailed(f"the answer broke off ({type(error).__name__})") from None
            if not chunk:
                return
            yield chunk


@contextlib.contextmanager
def stream(
    url: str,
    *,
    headers: dict | None = None,
    what: str = "The call",
    timeout: float = TIMEOUT_SECONDS,
    idle_timeout: float = TIMEOUT_SECONDS,
) -> Iterator[Stream]:
    """A GET through the policy whose body is read as it arrives, for output that goes on for
    long (a build's, a release phase's): at most `timeout` seconds to connect, `idle_timeout`
    seconds at most between two reads, no overall deadline, no redirect followed. Raises
    Refused or RequestFailed."""
    response = _one("GET", url, None, headers, what, time.monotonic() + timeout, idle_timeout)
    try:
        yield Stream(response, idle_timeout)
    finally:
        response.release_conn()
        response.close()


def _reason(error: OSError) -> str:
    return (error.strerror or type(error).__name__).lower()


def _remaining(deadline) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise RequestFailed("no answer in time")
    return left
