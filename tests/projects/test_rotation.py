"""`manage.py rotate_encryption_keys`: re-encrypt under the newest key, resumable, idempotent."""

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from herokucd import crypto
from herokucd.management.commands import rotate_encryption_keys
from projects.models import DeployKey, HerokuCredential, Project

pytestmark = pytest.mark.django_db
OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def raw(table, column):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {column} FROM {table} ORDER BY id")  # noqa: S608 - fixed names
        return cursor.fetchall()


def raw_keys():
    return raw("projects_herokucredential", "api_key") + raw("projects_deploykey", "private_key")


def rotate(*args):
    out = StringIO()
    call_command("rotate_encryption_keys", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def old_rows(settings, git_repo):
    """Three projects whose key and private key were stored under OLD."""
    settings.FIELD_ENCRYPTION_KEYS = [OLD]
    for n in range(3):
        project = Project.objects.create(name=f"P{n}", slug=f"p{n}", repository_url=".")
        HerokuCredential.objects.create(
            project=project,
            api_key=f"HRKU-secret-{n}",
            key_hash="h",
            account_email="a@b.c",
            account_id="1",
            validated_at=timezone.now(),
        )
        DeployKey.objects.create(project=project, private_key=f"PRIVATE-{n}")
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]


def plaintexts():
    keys = [c.api_key for c in HerokuCredential.objects.order_by("pk")]
    return keys + [d.private_key for d in DeployKey.objects.order_by("pk")]


EXPECTED = [f"HRKU-secret-{n}" for n in range(3)] + [f"PRIVATE-{n}" for n in range(3)]


def test_old_rows_stay_readable_while_both_keys_are_configured(old_rows):
    assert plaintexts() == EXPECTED


def test_rotation_makes_rows_readable_with_the_new_key_alone(old_rows, settings):
    output = rotate()
    assert f"key {crypto.key_id(OLD)}: 6 value(s) before" in output
    assert "re-encrypted 6 value(s)" in output
    assert {crypto.stored_key_id(value) for _, value in raw_keys()} == {crypto.key_id(NEW)}
    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    assert plaintexts() == EXPECTED


def test_the_output_shows_counts_per_key_id_never_a_value(old_rows):
    output = rotate()
    for value in EXPECTED:
        assert value not in output
    for _, stored in raw_keys():
        assert stored.split("$")[1] not in output


def test_dry_run_changes_nothing(old_rows, settings):
    before = raw_keys()
    output = rotate("--dry-run")
    assert "would re-encrypt 6 value(s)" in output
    assert raw_keys() == before
    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    with pytest.raises(crypto.DecryptionError):
        HerokuCredential.objects.first().api_key  # noqa: B018 - reading is the test


def test_a_second_run_has_nothing_to_do(old_rows):
    rotate()
    after_first = raw_keys()
    assert "re-encrypted 0 value(s)" in rotate()
    assert raw_keys() == after_first


def test_a_run_stopped_half_way_resumes(old_rows, monkeypatch):
    # Two rows per batch; the third batch fails as if the process were killed there.
    monkeypatch.setattr(rotate_encryption_keys, "BATCH", 2)
    real, calls = rotate_encryption_keys.reencrypt, []

    def dies_on_third_batch(model, field, stale):
        calls.append(len(stale))
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(model, field, stale)

    monkeypatch.setattr(rotate_encryption_keys, "reencrypt", dies_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        rotate()
    monkeypatch.setattr(rotate_encryption_keys, "reencrypt", real)
    assert "re-encrypted 4 value(s)" in rotate()
    assert plaintexts() == EXPECTED


def test_rows_after_a_batch_of_empty_private_keys_are_rotated(old_rows, settings, monkeypatch):
    monkeypatch.setattr(rotate_encryption_keys, "BATCH", 2)
    DeployKey.objects.filter(private_key__isnull=False).exclude(
        pk=DeployKey.objects.order_by("pk").last().pk
    ).update(private_key="")
    rotate()
    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    assert DeployKey.objects.order_by("pk").last().private_key == "PRIVATE-2"


def test_a_key_saved_while_rotating_is_not_overwritten_with_the_old_one(old_rows, settings):
    credential = HerokuCredential.objects.order_by("pk").first()
    stale = raw("projects_herokucredential", "api_key")[0]
    credential.api_key = "HRKU-saved-meanwhile"
    credential.save()
    field = HerokuCredential._meta.get_field("api_key")
    rotate_encryption_keys.reencrypt(HerokuCredential, field, [stale])
    credential.refresh_from_db()
    assert credential.api_key == "HRKU-saved-meanwhile"
