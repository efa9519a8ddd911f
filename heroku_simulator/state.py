"""In-memory Heroku state, seeded from STATE.json and reset back to that seed."""

import copy
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

DEFAULT_GIT_RATE_LIMIT = {"requests": 75, "window_seconds": 3600}
DEFAULT_API_RATE_LIMIT = {"capacity": 4500, "per_minute": 75}
DEFAULT_DYNO_SIZE = "Basic"


def now_iso():
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id():
    return str(uuid.uuid4())


@dataclass
class Account:
    email: str
    api_key: str
    id: str = field(default_factory=new_id)
    created_at: str = field(default_factory=now_iso)


@dataclass
class Formation:
    type: str
    quantity: int
    size: str = DEFAULT_DYNO_SIZE
    command: str = ""
    id: str = field(default_factory=new_id)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)


@dataclass
class Release:
    version: int
    description: str
    user_email: str
    config_vars: dict
    slug_id: str | None = None
    commit: str | None = None
    id: str = field(default_factory=new_id)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    # Release phase (heroku_simulator/release_phase.py): pending while the Procfile's `release`
    # command runs, then succeeded or failed; its output is served at `stream_id`.
    status: str = "succeeded"
    stream_id: str | None = None
    output: bytearray = field(default_factory=bytearray, repr=False)
    exit_status: int | None = None
    procfile: str | None = field(default=None, repr=False)


@dataclass
class Addon:
    name: str
    service: str
    plan: str
    config_var: str
    id: str = field(default_factory=new_id)
    attachment_id: str = field(default_factory=new_id)
    created_at: str = field(default_factory=now_iso)


@dataclass
class Dyno:
    command: str
    name: str
    type: str
    attach: bool
    env: dict
    release_id: str
    release_version: int
    time_to_live: float | None = None
    size: str = DEFAULT_DYNO_SIZE
    state: str = "starting"
    exit_status: int | None = None
    output: str = ""
    id: str = field(default_factory=new_id)
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    process: object = None
    expires_at: float | None = None  # time.monotonic() when time_to_live ends it

    def __post_init__(self):
        if self.time_to_live:
            self.expires_at = time.monotonic() + float(self.time_to_live)


@dataclass
class App:
    name: str
    owner: str
    collaborators: list
    formation: dict
    config_vars: dict
    id: str = field(default_factory=new_id)
    maintenance: bool = False
    web_suffix: str = field(default_factory=lambda: secrets.token_hex(6))
    releases: list = field(default_factory=list)
    addons: list = field(default_factory=list)
    pushes: list = field(default_factory=list)
    dynos: list = field(default_factory=list)
    finished_dynos: list = field(default_factory=list)
    logs: list = field(default_factory=list)
    backups: list = field(default_factory=list)
    builds: list = field(default_factory=list)  # Build API builds (builds.py)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    release_hook: object = field(default=None, repr=False)  # starts a release's release phase

    @property
    def web_url(self):
        return f"https://{self.name}-{self.web_suffix}.herokuapp.com/"

    @property
    def current_release(self):
        """The release the app runs: the newest that succeeded. A newer one may still be in its
        release phase (pending) or have failed it, as on Heroku (docs/heroku.md §6.1)."""
        return next((r for r in reversed(self.releases) if r.status == "succeeded"), None)

    @property
    def newest_release(self):
        return self.releases[-1] if self.releases else None

    def can_access(self, account):
        return account.email == self.owner or account.email in self.collaborators

    def add_release(
        self, description, user_email, slug_id=None, commit=None, keep_slug=True, procfile=None
    ):
        """A new release; without a slug it keeps the current one's, as a config var change or
        an add-on attachment does on Heroku (only the first releases of an app have none). A
        rollback (`keep_slug=False`) runs exactly the slug of the release it copies. `procfile`:
        the commit's Procfile when the repository cannot show it yet (during a push)."""
        if slug_id is None and keep_slug and self.current_release is not None:
            slug_id, commit = self.current_release.slug_id, self.current_release.commit
        release = Release(
            version=len(self.releases) + 1,
            description=description,
            user_email=user_email,
            config_vars=dict(self.config_vars),
            slug_id=slug_id,
            commit=commit,
            procfile=procfile,
        )
        self.releases.append(release)
        self.updated_at = now_iso()
        if self.release_hook is not None:  # none while seeding: seeded releases succeeded
            self.release_hook(self, release)
        return release

    def log(self, source, line):
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        self.logs.append(
            {"time": time.time(), "source": source, "line": f"{stamp} {source}: {line}"}
        )


@dataclass
class Key:
    account_id: str
    public_key: str
    comment: str
    fingerprint: str
    id: str = field(default_factory=new_id)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)


def _formation_from_seed(process_type, value):
    if isinstance(value, dict):
        return Formation(
            type=process_type,
            quantity=int(value.get("quantity", 1)),
            size=value.get("size", DEFAULT_DYNO_SIZE),
            command=value.get("command", ""),
        )
    return Formation(type=process_type, quantity=int(value))


def _default_command(process_type):
    return {"web": "gunicorn app.wsgi", "worker": "python worker.py"}.get(
        process_type, f"./{process_type}"
    )


class SimState:
    """Everything the simulator knows; every access goes through `lock`."""

    def __init__(self, seed):
        self.seed = copy.deepcopy(seed)
        self.lock = threading.RLock()
        self.load()

    def load(self):
        seed = self.seed
        self.accounts = [self._account_from_seed(a) for a in seed.get("accounts", [])]
        self.apps = [self._app_from_seed(a) for a in seed.get("apps", [])]
        self.keys = []
        self.events = []
        self.sources = {}  # Build API sources by id (builds.py)
        # The tarball each Build API slug was built from, by slug id: its dynos run these files.
        self.slug_sources = {}
        self.git_rate_limit = {**DEFAULT_GIT_RATE_LIMIT, **seed.get("git_rate_limit", {})}
        self.api_rate_limit = {**DEFAULT_API_RATE_LIMIT, **seed.get("api_rate_limit", {})}
        self.backup_seconds = float(seed.get("backup_seconds", 1.0))
        from .pipelines import book_from_seed  # it builds on this module's App and ids

        self.pipelines = book_from_seed(seed, self.apps)
        self.hook_releases(getattr(self, "release_hook", None))

    def hook_releases(self, hook):
        """Every new release of every app goes through `hook(app, release)` (its release phase)."""
        self.release_hook = hook
        for app in self.apps:
            app.release_hook = hook

    @staticmethod
    def _account_from_seed(data):
        account = Account(email=data["email"], api_key=data["api_key"])
        if data.get("id"):
            account.id = data["id"]
        return account

    def _app_from_seed(self, data):
        formation = {
            t: _formation_from_seed(t, v) for t, v in data.get("formation", {"web": 1}).items()
        }
        for item in formation.values():
            item.command = item.command or _default_command(item.type)
        app = App(
            name=data["name"],
            owner=data["owner"],
            collaborators=list(data.get("collaborators", [])),
            formation=formation,
            config_vars={},
            maintenance=bool(data.get("maintenance", False)),
        )
        if data.get("id"):
            app.id = data["id"]
        app.add_release("Initial release", app.owner)
        app.add_release("Enable Logplex", app.owner)
        for sha in data.get("deployed_commits", []):  # code released before the simulation
            app.add_release(f"Deploy {sha[:7]}", app.owner, slug_id_for(sha), sha)
        for service in data.get("addons", []):
            self._attach_addon(app, service)
        if data.get("config_vars"):
            app.config_vars.update(data["config_vars"])
            names = ", ".join(sorted(data["config_vars"]))
            app.add_release(f"Set {names} config vars", app.owner)
        return app

    @staticmethod
    def _attach_addon(app, service):
        plan = service if ":" in service else f"{service}:essential-0"
        service_name = plan.split(":")[0]
        short = service_name.removeprefix("heroku-")
        addon_name = (
            f"{short}-{secrets.choice(['clean', 'solid', 'vast'])}-{secrets.randbelow(99999)}"
        )
        is_pg = service_name == "heroku-postgresql"
        config_var = "DATABASE_URL" if is_pg else f"{short.upper()}_URL"
        addon = Addon(name=addon_name, service=service_name, plan=plan, config_var=config_var)
        app.addons.append(addon)
        app.config_vars[config_var] = (
            f"postgres://u{secrets.token_hex(4)}:p{secrets.token_hex(8)}@127.0.0.1:5432/d{secrets.token_hex(4)}"
            if is_pg
            else f"https://{short}.example.invalid/{secrets.token_hex(6)}"
        )
        app.add_release(f"Attach {config_var.removesuffix('_URL')} (@ref:{addon_name})", app.owner)

    # lookups

    def account_for_key(self, api_key):
        return next((a for a in self.accounts if secrets.compare_digest(a.api_key, api_key)), None)

    def find_app(self, name_or_id):
        return next((a for a in self.apps if name_or_id in (a.name, a.id)), None)

    def account_by_email(self, email):
        return next((a for a in self.accounts if a.email == email), None)

    def record_event(self, method, path, app=None, summary="", status=None):
        self.events.append(
            {
                "method": method,
                "path": path,
                "app": app,
                "time": now_iso(),
                "timestamp": time.time(),
                "status": status,
                "summary": summary,
            }
        )


def slug_id_for(sha):
    """The id of the slug built from commit `sha`: a uuid made of the commit's digits."""
    return f"{sha[:8]}-{sha[8:12]}-4{sha[13:16]}-8{sha[17:20]}-{sha[20:32]}"
