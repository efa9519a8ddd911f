"""The deploy key: an ed25519 key pair in OpenSSH format, fingerprinted as ssh-keygen -l does."""

import base64
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@dataclass(frozen=True, repr=False)
class KeyPair:
    private_key: str  # OpenSSH PEM; a secret, hence no repr
    public_key: str  # "ssh-ed25519 AAAA… comment"
    fingerprint: str  # "SHA256:…"


def generate(comment: str) -> KeyPair:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    public_line = f"{public.decode()} {comment}"
    return KeyPair(private, public_line, fingerprint(public_line))


def fingerprint(public_line: str) -> str:
    """SHA256 of the key blob, unpadded base64, as `ssh-keygen -l` prints it."""
    blob = base64.b64decode(public_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
