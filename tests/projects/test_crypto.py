"""Secrets at rest: raw SQL of an encrypted column shows ciphertext with a key id, never text."""

import base64

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone

from herokucd import crypto
from projects import sshkeys
from projects.models import DeployKey, HerokuCredential

pytestmark = pytest.mark.django_db
API_KEY = "HRKU-0123abcd-0123-4abc-8def-0123456789ab"


def raw_column(table, column, pk):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


@pytest.fixture
def credential(project):
    return HerokuCredential.objects.create(
        project=project,
        api_key=API_KEY,
        key_hash=crypto.keyed_hash(API_KEY),
        account_email="a@example.com",
        account_id="1",
        validated_at=timezone.now(),
    )


def test_raw_sql_of_the_api_key_column_holds_no_plaintext(credential, settings):
    stored = raw_column("projects_herokucredential", "api_key", credential.pk)
    assert API_KEY not in stored
    assert API_KEY[-12:] not in stored
    assert stored.startswith(crypto.key_id(settings.FIELD_ENCRYPTION_KEYS[0]) + "$")
    assert HerokuCredential.objects.get().api_key == API_KEY


def test_raw_sql_of_the_private_key_column_holds_no_plaintext(project):
    pair = sshkeys.generate("herokucd-foo-bar")
    key = DeployKey.objects.create(project=project, private_key=pair.private_key)
    stored = raw_column("projects_deploykey", "private_key", key.pk)
    body = "".join(pair.private_key.splitlines()[1:-1])
    assert "PRIVATE KEY" not in stored and body[:40] not in stored
    assert base64.b64encode(pair.private_key.encode()).decode()[:40] not in stored
    assert DeployKey.objects.get().private_key == pair.private_key


def test_the_same_key_encrypts_differently_each_time(project, credential, git_repo):
    first = crypto.encrypt(API_KEY)
    assert first != crypto.encrypt(API_KEY)
    assert crypto.decrypt(first) == API_KEY


def test_the_keyed_hash_matches_equal_keys_and_is_not_the_key():
    assert crypto.keyed_hash(API_KEY) == crypto.keyed_hash(API_KEY)
    assert crypto.keyed_hash(API_KEY) != crypto.keyed_hash(API_KEY + "x")
    assert API_KEY not in crypto.keyed_hash(API_KEY)


def test_lookups_on_an_encrypted_column_are_refused(credential):
    with pytest.raises(ImproperlyConfigured, match="cannot be searched"):
        HerokuCredential.objects.filter(api_key=API_KEY).exists()


def test_the_generated_key_pair_is_openssh_ed25519(project):
    pair = sshkeys.generate("herokucd-foo-bar")
    assert pair.private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert pair.public_key.startswith("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5")
    assert pair.public_key.endswith(" herokucd-foo-bar")
    assert pair.fingerprint.startswith("SHA256:") and not pair.fingerprint.endswith("=")
    assert pair.private_key not in repr(pair)
