"""Print a one-time setup token for creating the first administrator, while no user exists.

`manage.py serve` (make run) and the release phase on Heroku run it, as Jenkins and Grafana
print their initial admin secret: only someone who can read the console or the log can create
the first administrator. Each run replaces the previous token; only its hash is stored.
"""

from django.conf import settings
from django.core.management.base import BaseCommand

from projects.access import issue_setup_token


class Command(BaseCommand):
    help = "Print a one-time token to create the first administrator with (only without users)."

    def add_arguments(self, parser):
        parser.add_argument("--url", default=settings.SITE_URL, help="The dashboard's address.")

    def handle(self, *args, url, **options):
        token = issue_setup_token()
        if token is None:
            self.stdout.write("herokucd has users already: no setup token is needed.")
            return
        page = f"{url.rstrip('/')}/setup/first-admin/"
        if not url:  # SITE_URL unset and no --url: the path on whatever address serves it
            page += " (on the dashboard's address)"
        rule = "*" * 72
        self.stdout.write(
            f"\n{rule}\nNo administrator yet. Create one at {page}\n"
            f"with this one-time setup token:\n\n    {token}\n\n{rule}\n"
        )
