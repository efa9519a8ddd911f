"""Encryption of secrets at rest.

`EncryptedTextField` stores a value as `<key id>$<Fernet token>`, encrypted with the newest of
`settings.FIELD_ENCRYPTION_KEYS` and readable with any of them (MultiFernet). The key id is a short
digest of the key, so rotation can count rows per key without decrypting them. Lookups and indexes
on an encrypted column are refused: they could only ever compare ciphertexts.

Design follows orcasgit/django-fernet-fields (a field per value, keys from settings, no lookups).
"""

import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.dispatch import Signal
from django.utils.crypto import salted_hmac

SEPARATOR = "$"


class DecryptionError(Exception):
    """The stored value was encrypted with a key that is no longer configured."""


def key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:8]


@lru_cache(maxsize=8)
def _fernets(keys: tuple[str, ...]) -> tuple[str, MultiFernet]:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty")
    return key_id(keys[0]), MultiFernet([Fernet(key) for key in keys])


def _current():
    return _fernets(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    kid, fernet = _current()
    return kid + SEPARATOR + fernet.encrypt(plaintext.encode()).decode()


def decrypt(stored: str) -> str:
    token = stored.split(SEPARATOR, 1)[-1]
    try:
        return _current()[1].decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            f"A value encrypted with key {stored_key_id(stored)} cannot be read: "
            "that key is not in FIELD_ENCRYPTION_KEYS"
        ) from None


def stored_key_id(stored: str) -> str:
    return stored.split(SEPARATOR, 1)[0]


def is_current(stored: str) -> bool:
    return stored_key_id(stored) == _current()[0]


def keyed_hash(value: str) -> str:
    """A digest to compare secrets by (e.g. "is this key used elsewhere?") without storing them."""
    return salted_hmac("herokucd.crypto.keyed_hash", value, algorithm="sha256").hexdigest()


def mask(value: str) -> str:
    """What a person may see of a secret: its last four characters."""
    return "••••••••" + value[-4:] if value else ""


# Sent by `manage.py rotate_encryption_keys` once it re-encrypted everything (not on a dry run).
keys_rotated = Signal()


class EncryptedTextField(models.TextField):
    description = "Text encrypted at rest"

    def __init__(self, *args, **kwargs):
        if kwargs.get("db_index") or kwargs.get("unique") or kwargs.get("primary_key"):
            raise ImproperlyConfigured("An encrypted field cannot be indexed or unique")
        super().__init__(*args, **kwargs)

    def get_lookup(self, lookup_name):
        if lookup_name != "isnull":
            raise ImproperlyConfigured(
                f"Encrypted fields cannot be searched ('{lookup_name}' lookup refused)"
            )
        return super().get_lookup(lookup_name)

    def get_transform(self, lookup_name):
        raise ImproperlyConfigured("Encrypted fields cannot be transformed")

    def get_db_prep_save(self, value, connection):
        value = super().get_db_prep_save(value, connection)
        if value is None or value == "":
            return value
        return encrypt(str(value))

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)
