"""`make demo`: herokucd entirely offline, against the local Heroku simulator.

1. Migrate the database; create (or reset) the demo admin.
2. Make a sample git repository next to the data folder (projects may not read local paths in
   it): a small app with a migration script; allow its folder (ALLOWED_LOCAL_REPOSITORY_FOLDERS).
3. Start the Heroku simulator (heroku_simulator/) with a demo account, its API key and two apps,
   demo-staging and demo-production, and wait for its ready line.
4. Point the dashboard's processes at the simulator (HEROKU_* environment variables), start them
   the way `manage.py serve` does, and print how to sign in and what to paste into the wizard.
5. On Ctrl-C, SIGTERM or SIGHUP, or when a process dies, stop everything that was started, then
   the embedded Redis. Every process started dies with this command, should it be killed
   (herokucd/supervise.py).

Steps 1 (but the migration) to 3 are `start_demo()`, which the browser test of the whole flow uses.
"""

import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from herokucd.embedded_redis import shutdown
from herokucd.management.commands.serve import Command as ServeCommand
from herokucd.management.commands.serve import web_command, worker_command
from herokucd.supervise import Children, stop_group
from herokucd.supervise import start as start_child
from projects.setup_forms import API_KEY

DEMO_USER = "demo"
DEMO_EMAIL = "demo@example.com"
APPS = ["demo-staging", "demo-production"]
MIGRATION = "bin/migrate"
SAMPLE_FILES = {
    "README.md": "# Demo app\n\nDeployed by herokucd's offline demo.\n",
    "Procfile": (
        "web: python -m http.server $PORT\nworker: sleep infinity\n"
        # Heroku's release phase runs it on every new release (docs/heroku.md §6.1).
        "release: echo 'Collecting static files...'; sleep 1; echo '42 static files copied.'\n"
    ),
    "bin/migrate": (
        "#!/bin/sh\n"
        "# The demo's migration: prints progress like a real one, then succeeds.\n"
        "set -e\n"
        "echo 'Operations to perform:'\n"
        "echo '  Apply all migrations: shop'\n"
        "for n in 1 2 3; do\n"
        "  printf '  Applying shop.000%s_demo...' \"$n\"; sleep 1\n"
        "  printf ' \\033[32mOK\\033[0m\\n'\n"
        "done\n"
    ),
}


class Command(BaseCommand):
    help = "Run herokucd offline against the local Heroku simulator, with a demo admin and repo."

    def add_arguments(self, parser):
        default_port = int(os.environ.get("PORT", "8000"))
        parser.add_argument("--port", type=int, default=default_port, help="dashboard port")
        parser.add_argument("--sim-port", type=int, default=0, help="simulator port (0: any)")

    def handle(self, *args, port, sim_port, **options):
        redis_connection = None
        with Children() as children:
            call_command("migrate", interactive=False, verbosity=0)
            repositories = settings.DATA_DIR.with_name(
                f"{settings.DATA_DIR.name}-demo-repositories"
            )
            demo = start_demo(settings.DATA_DIR / "demo", sim_port, repositories)
            children.adopt(demo.simulator)
            os.environ.update(demo.endpoints)
            # The dashboard's processes may read the sample repository by its path.
            os.environ["ALLOWED_LOCAL_REPOSITORY_FOLDERS"] = str(repositories)
            redis_connection = ServeCommand()._hold_redis()
            children.start(web_command("127.0.0.1", port))
            children.start(worker_command())
            self._welcome(port, demo)
            self.stdout.flush()
            children.wait()
            self.stderr.write("A process stopped unexpectedly; stopping the others.")
        if settings.EMBEDDED_REDIS and redis_connection is not None:
            shutdown(redis_connection)
        self.stdout.write("Demo stopped.")

    def _welcome(self, port, demo):
        url = f"http://127.0.0.1:{port}/"
        self.stdout.write(
            f"\nherokucd demo is running at {url}  (Ctrl-C stops it)\n\n"
            f"  Sign in as      {DEMO_USER} / {demo.password}\n"
            f"  Create a project with this repository: {demo.repository}\n"
            f"  Heroku API key for the wizard (a demo key, valid only in the simulator):\n"
            f"                  {demo.api_key}\n"
            f"  Heroku apps     {APPS[0]} (staging), {APPS[1]} (production), coupled in\n"
            f"                  the Heroku pipeline 'demo': Promote works between them\n"
            f"  Migration       {MIGRATION}  (set it on an environment, with maintenance\n"
            f"                  and 'worker' scaled down, to watch every step of a deploy)\n"
            f"  Heroku simulator {demo.api_url}\n"
        )


@dataclass
class Demo:
    """What `start_demo` set up: the running simulator and what to tell the person."""

    simulator: subprocess.Popen
    endpoints: dict
    api_key: str
    repository: Path
    password: str

    @property
    def api_url(self) -> str:
        return self.endpoints["HEROKU_API_URL"]

    def stop(self):
        stop_group(self.simulator)


def start_demo(folder: Path, sim_port: int = 0, repositories: Path | None = None) -> Demo:
    """Steps 1 to 3 on a migrated database; the simulator starts last, so nothing leaks if an
    earlier step fails. The browser test of the whole flow uses it too. The sample repository
    goes in `repositories` (default: `folder`)."""
    folder.mkdir(parents=True, exist_ok=True)
    api_key = demo_key(folder)
    repository = make_sample_repository((repositories or folder) / "sample-app")
    password = reset_demo_admin()
    simulator, endpoints = start_simulator(folder, api_key, sim_port)
    return Demo(simulator, endpoints, api_key, repository, password)


def demo_key(folder: Path) -> str:
    """One demo key per data folder, so a wizard run survives restarting the demo; a key of an
    older demo that the wizard would refuse is replaced."""
    path = folder / "api_key"
    if not path.exists() or not API_KEY.match(path.read_text().strip()):
        # Heroku's HRKU- + 60 characters form, so the wizard accepts it.
        path.write_text("HRKU-demo-" + secrets.token_hex(28)[:55])
    return path.read_text().strip()


def simulator_state(api_key: str) -> dict:
    app = {"owner": DEMO_EMAIL, "formation": {"web": 1, "worker": 1}}
    return {
        "accounts": [{"email": DEMO_EMAIL, "api_key": api_key}],
        "apps": [{"name": name, **app, "addons": ["heroku-postgresql"]} for name in APPS],
        "backup_seconds": 2,
        # Coupled in a Heroku pipeline, so the demo can promote staging's release (README).
        "pipelines": [{"name": "demo", "couplings": {APPS[0]: "staging", APPS[1]: "production"}}],
    }


def start_simulator(folder: Path, api_key: str, port: int):
    """The simulator process and the HEROKU_* settings that point herokucd at it."""
    state = folder / "sim-state.json"
    state.write_text(json.dumps(simulator_state(api_key)))
    command = [
        sys.executable,
        "-m",
        "heroku_simulator",
        "--port",
        str(port),
        "--state",
        str(state),
        "--data-dir",
        str(folder / "sim"),
    ]
    # It dies with this process, even one killed before it could stop it.
    process = start_child(command, cwd=settings.BASE_DIR, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if not line.startswith("heroku-sim ready"):
        stop_group(process)
        raise CommandError(f"The Heroku simulator did not start: {line.strip() or 'no output'}")
    fields = dict(part.split("=", 1) for part in line.split()[2:])
    return process, {
        "HEROKU_API_URL": fields["api"],
        "HEROKU_GIT_URL": fields["git"],
        "HEROKU_DATA_API_URL": fields["api"],
        "HEROKU_RENDEZVOUS_CA": fields["ca"],
        # The simulated apps answer on loopback: let the health check reach them.
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
    }


def make_sample_repository(path: Path) -> Path:
    """A git repository with one commit on main (kept if it already exists)."""
    if (path / ".git").exists():
        return path
    for name, content in SAMPLE_FILES.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    (path / "bin/migrate").chmod(0o755)
    identity = ["-c", "user.name=herokucd demo", "-c", "user.email=demo@example.com"]
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "."],
        [*identity, "commit", "-q", "-m", "Demo app with a migration"],
    ):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)
    return path


def reset_demo_admin() -> str:
    """Create the demo admin, or give it a new password; returns the password to print."""
    password = secrets.token_urlsafe(9)
    user, _ = get_user_model().objects.get_or_create(
        username=DEMO_USER, defaults={"email": DEMO_EMAIL}
    )
    user.is_staff = user.is_superuser = True
    user.set_password(password)
    user.save()
    return password
