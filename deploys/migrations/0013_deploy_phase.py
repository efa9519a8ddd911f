from django.db import migrations, models

# What the reaper appended to the reason of a deploy it was cleaning up, before the phase had a
# column of its own.
CLEANING_UP = "; herokucd is undoing its changes on the app, then fails the deploy."


def mark_cleaning_up(apps, schema_editor):
    Deploy = apps.get_model("deploys", "Deploy")
    Deploy.objects.filter(state="running", reason__endswith=CLEANING_UP).update(
        phase="cleaning_up"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("deploys", "0012_deploy_release_commit_end_state"),
    ]

    operations = [
        migrations.AddField(
            model_name="deploy",
            name="phase",
            field=models.CharField(
                blank=True,
                choices=[("", "Running its steps"), ("cleaning_up", "Cleaning up")],
                default="",
                max_length=12,
            ),
        ),
        migrations.RunPython(mark_cleaning_up, migrations.RunPython.noop, elidable=True),
    ]
