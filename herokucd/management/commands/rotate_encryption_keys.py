"""Re-encrypt every encrypted value under the newest key in FIELD_ENCRYPTION_KEYS.

1. Find every model field that is an EncryptedTextField.
2. Walk each table by primary key in batches, reading the raw stored column.
3. Re-encrypt the values not yet under the newest key, one batch per transaction.

Rows already under the newest key are skipped, so the command is idempotent and a run that
stopped half way resumes where it stopped. It prints counts per key id, never a value.
4. Tell `crypto.keys_rotated`'s receivers: each project's stored logs are scrubbed.
"""

from collections import Counter

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from herokucd import crypto

BATCH = 500


class Command(BaseCommand):
    help = "Re-encrypt every encrypted value under the newest FIELD_ENCRYPTION_KEYS key."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count, change nothing.")

    def handle(self, *args, dry_run=False, **options):
        before, rotated = Counter(), 0
        for model, field in encrypted_fields():
            for batch in raw_batches(model, field):
                before.update(crypto.stored_key_id(value) for _, value in batch)
                stale = [(pk, value) for pk, value in batch if not crypto.is_current(value)]
                if stale and not dry_run:
                    reencrypt(model, field, stale)
                rotated += len(stale)
        for kid, count in sorted(before.items()):
            self.stdout.write(f"key {kid}: {count} value(s) before")
        verb = "would re-encrypt" if dry_run else "re-encrypted"
        self.stdout.write(f"{verb} {rotated} value(s)")
        if not dry_run:
            # Receivers scrub the stored logs of every project (deploys.signals).
            for _, response in crypto.keys_rotated.send(sender=self.__class__):
                if response:
                    self.stdout.write(str(response))


def encrypted_fields():
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, crypto.EncryptedTextField):
                yield model, field


def raw_batches(model, field):
    """(pk, stored ciphertext) pairs, read raw so nothing is decrypted just to be counted."""
    last_pk = None
    while True:
        rows = model._base_manager.exclude(**{f"{field.attname}__isnull": True}).order_by("pk")
        if last_pk is not None:
            rows = rows.filter(pk__gt=last_pk)
        page = list(rows.values_list("pk", raw_column(field))[:BATCH])
        if not page:
            return
        yield [(pk, value) for pk, value in page if value]
        last_pk = page[-1][0]


def raw_column(field):
    from django.db.models.expressions import RawSQL

    # Names from the model's own metadata, quoted by the backend: no user input reaches this.
    quote = connection.ops.quote_name
    return RawSQL(f"{quote(field.model._meta.db_table)}.{quote(field.column)}", [])  # noqa: S611


def reencrypt(model, field, stale):
    """Write each value back under the newest key, unless it changed since it was read."""
    quote = connection.ops.quote_name
    table, column = quote(model._meta.db_table), quote(field.column)
    pk = quote(model._meta.pk.column)
    # Names from the model's metadata, values as parameters.
    sql = f"UPDATE {table} SET {column} = %s WHERE {pk} = %s AND {column} = %s"  # noqa: S608
    with transaction.atomic(), connection.cursor() as cursor:
        for row_pk, value in stale:
            cursor.execute(sql, [crypto.encrypt(crypto.decrypt(value)), row_pk, value])
