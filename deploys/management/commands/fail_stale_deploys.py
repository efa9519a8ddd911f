from django.core.management.base import BaseCommand

from deploys.approvals import expire_waiting
from deploys.jobs import requeue_orphans
from deploys.reaper import fail_stale_deploys, stale_seconds


class Command(BaseCommand):
    help = (
        "Undo the changes of running deploys whose worker died (no heartbeat), then fail them; "
        "queue again the queued deploys whose job was lost; expire the deploys waiting for "
        "approval past their deadline."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=int,
            default=None,
            help=f"Seconds without a heartbeat (default {stale_seconds()}).",
        )

    def handle(self, *args, older_than=None, **options):
        failed = fail_stale_deploys(older_than)
        for deploy in failed:
            self.stdout.write(f"Failed deploy #{deploy.number} of {deploy.app_name}.")
        self.stdout.write(f"{len(failed)} stale deploy(s) failed.")
        for deploy in requeue_orphans():
            self.stdout.write(
                f"Queued again deploy #{deploy.number} of {deploy.app_name} (its job was lost)."
            )
        expired = expire_waiting()
        self.stdout.write(f"{len(expired)} deploy(s) waiting for approval expired.")
