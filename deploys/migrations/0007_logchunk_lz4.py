"""Log chunks compressed with lz4 on PostgreSQL 14+ built with it: the default, pglz, takes
most of the time of storing a burst of output. A no-op elsewhere (SQLite does not compress)."""

from django.db import migrations

AVAILABLE = "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"


def compress_with(method):
    def alter(apps, schema_editor):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute(AVAILABLE)
            row = cursor.fetchone()
            if row and row[0]:
                table = schema_editor.quote_name(
                    apps.get_model("deploys", "LogChunk")._meta.db_table
                )
                cursor.execute(f"ALTER TABLE {table} ALTER COLUMN content SET COMPRESSION {method}")

    return alter


class Migration(migrations.Migration):
    dependencies = [("deploys", "0006_deploy_env_state_number_index")]

    operations = [migrations.RunPython(compress_with("lz4"), compress_with("pglz"))]
