from django.db import migrations

import herokucd.crypto
from herokucd.http import split_userinfo, with_userinfo


def move_userinfo_out(apps, schema_editor):
    """A password in a stored health check URL moves to the encrypted column."""
    Environment = apps.get_model("projects", "Environment")
    for environment in Environment.objects.filter(health_check_url__contains="@"):
        url, userinfo = split_userinfo(environment.health_check_url)
        if userinfo:
            environment.health_check_url, environment.health_check_userinfo = url, userinfo
            environment.save(update_fields=["health_check_url", "health_check_userinfo"])


def put_userinfo_back(apps, schema_editor):
    Environment = apps.get_model("projects", "Environment")
    for environment in Environment.objects.all():  # encrypted: not searchable
        if not environment.health_check_userinfo:
            continue
        environment.health_check_url = with_userinfo(
            environment.health_check_url, environment.health_check_userinfo
        )
        environment.save(update_fields=["health_check_url"])


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0006_repository_credential_app_checks"),
    ]

    operations = [
        migrations.AddField(
            model_name="environment",
            name="health_check_userinfo",
            field=herokucd.crypto.EncryptedTextField(blank=True),
        ),
        migrations.RunPython(move_userinfo_out, put_userinfo_back),
    ]
