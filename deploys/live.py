"""What is live: each environment's current Heroku release, its commit and the deploy that made
it, read from Heroku and kept in `LiveRelease`.

1. The worker reads it right after every deploy of the environment ends (deploys/jobs.py).
2. A page that shows a record older than MAX_AGE (or none) queues one `refresh` job for the
   environment (one job id per environment, so many viewers queue one read); the page itself
   never waits for Heroku and says how old what it shows is.
3. A read that changes what the pages show marks the project's pages changed.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rq.exceptions import DuplicateJobError

from deploys.live_models import LiveRelease
from deploys.models import Deploy
from herokucd.heroku import HerokuClient, HerokuError
from projects import pagecache
from projects.models import Environment

log = logging.getLogger(__name__)
MAX_AGE = timedelta(seconds=60)
RECENT = 10  # releases looked at to find the current one (a newer one may be pending or failed)
NO_KEY = "This project has no Heroku API key: add one in its settings to see what is live."
# What the pages show of a record: a read that changes none of them leaves the pages as they are.
SHOWN = [
    "app_name",
    "version",
    "release_id",
    "commit",
    "description",
    "user_email",
    "released_at",
    "status",
    "deploy_id",
    "problem",
]  # not read_at: "as of" moves on with the pages' own renewal (projects/pagecache.TTL)


def current_release(client: HerokuClient, app: str) -> dict | None:
    """The release the app runs now: Heroku marks it `current`; a newer release may still be
    pending (release phase) or have failed, and then the app runs an older one."""
    releases = client.releases(app, limit=RECENT)
    return next((release for release in releases if release.get("current")), None)


def read(client: HerokuClient, app: str) -> dict:
    """The fields of `LiveRelease` for `app`'s current release, asked of Heroku."""
    release = current_release(client, app)
    if release is None:
        return {"app_name": app, "problem": f"Heroku lists no current release of {app}."}
    return {
        "app_name": app,
        "version": release["version"],
        "release_id": release["id"],
        "commit": client.release_commit(app, release) or "",
        "description": (release.get("description") or "")[:255],
        "user_email": ((release.get("user") or {}).get("email") or "")[:255],
        "released_at": _moment(release.get("created_at")),
        "status": release.get("status") or "",
        "problem": "",
    }


def _moment(text) -> datetime | None:
    return parse_datetime(text) if text else None


def refresh(environment_id: int) -> str:
    """The job: read the environment's live release from Heroku and keep it."""
    environment = (
        Environment.objects.select_related("project__heroku_credential")
        .filter(pk=environment_id)
        .first()
    )
    if environment is None:
        return "no environment"
    credential = getattr(environment.project, "heroku_credential", None)
    if credential is None:
        store(environment, {"app_name": environment.app_name, "problem": NO_KEY})
        return "no key"
    try:
        with HerokuClient(credential.api_key) as client:
            fields = read(client, environment.app_name)
    except HerokuError as error:
        problem = f"Heroku could not be asked what is live on {environment.app_name}: {error}"
        fields = {"app_name": environment.app_name, "problem": problem}
    store(environment, fields)
    return fields["problem"] or f"v{fields['version']}"


def store(environment, fields: dict) -> LiveRelease:
    """Keep what was read. A failed read keeps the last release read, with the problem."""
    now = timezone.now()
    fields = {**fields, "checked_at": now} | ({} if fields["problem"] else {"read_at": now})
    if fields.get("version") is not None:
        fields["deploy_id"] = made_by(environment, fields["app_name"], fields["version"])
    kept = LiveRelease.objects.filter(environment=environment).first()
    if kept is None:
        kept = LiveRelease(environment=environment, checked_at=fields["checked_at"])
    elif kept.app_name != fields["app_name"]:  # the environment now deploys another app
        kept = LiveRelease(pk=kept.pk, environment=environment, checked_at=fields["checked_at"])
    before = [getattr(kept, name) for name in SHOWN]
    for name, value in fields.items():
        setattr(kept, name, value)
    kept.save()
    if [getattr(kept, name) for name in SHOWN] != before:
        pagecache.touch(environment.project_id)
    return kept


def made_by(environment, app_name, version) -> int | None:
    """The herokucd deploy of this project and app whose release is `version` (rollbacks too)."""
    deploys = Deploy.objects.filter(
        project_id=environment.project_id, app_name=app_name, release_version=version
    )
    return deploys.order_by("-number").values_list("pk", flat=True).first()


def after_deploy(deploy: Deploy) -> None:
    """Read what is live once a deploy ended (in the worker); never fails the deploy's job."""
    if deploy.environment_id is None:
        return
    try:
        refresh(deploy.environment_id)
    except Exception:
        log.exception("Could not read what is live on %s after deploy %s", deploy.app_name, deploy)


# -- pages -----------------------------------------------------------------------------------


def of(environment) -> LiveRelease | None:
    """The environment's record, as the page's query loaded it (select_related)."""
    return getattr(environment, "live_release", None)


def is_stale(record: LiveRelease | None, app_name: str, now=None) -> bool:
    if record is None or record.app_name != app_name:
        return True
    return record.checked_at < (now or timezone.now()) - MAX_AGE


def ask_if_stale(environment, record: LiveRelease | None) -> None:
    """Queue a read of the environment's live release when what a page shows is old; one job
    per environment at a time. Redis down: the page shows what it has."""
    if not is_stale(record, environment.app_name):
        return
    from deploys import jobs

    try:
        jobs.get_queue().enqueue(
            refresh,
            environment.pk,
            job_id=f"live-release-{environment.pk}",
            unique=True,
            job_timeout=120,
            ttl=300,  # not started by then (no worker): forgotten, so a later page asks again
            result_ttl=0,
            failure_ttl=int(MAX_AGE.total_seconds()),
            description=f"read what is live on {environment.app_name}",
        )
    except DuplicateJobError:
        pass  # already asked
    except redis.RedisError as error:
        log.warning("Could not queue a read of what is live on %s: %s", environment, error)


def mark(deploy, record: LiveRelease | None) -> str:
    """ "live" when `deploy`'s release is the app's current one, "replaced" when a later release
    is, "" when nobody knows (no release, no record, another app)."""
    if not (deploy.release_version and record and record.version):
        return ""
    if record.app_name != deploy.app_name:
        return ""
    if record.version == deploy.release_version:
        return "live"
    return "replaced" if record.version > deploy.release_version else ""


# -- the rollback chooser --------------------------------------------------------------------

RELEASES_LISTED = 50  # Heroku releases read for the chooser: one request
CHOICES = 10  # of each kind: earlier deploys, releases made outside herokucd


@dataclass
class Target:
    """A release the app can be rolled back to, and the deploy that made it (if herokucd did)."""

    version: int
    commit: str = ""
    deploy: Deploy | None = None
    release_id: str = ""
    user: str = ""
    released_at: datetime | None = None
    description: str = ""

    @property
    def short_commit(self):
        return self.commit[:7]

    @property
    def route(self) -> str:
        """Where a rollback to it goes: "v9 (def5678, deploy #38)"."""
        made = f"deploy #{self.deploy.number}" if self.deploy else "made outside herokucd"
        return f"v{self.version} ({self.short_commit or 'no commit known'}, {made})"


@dataclass
class Choices:
    """What the rollback confirmation offers for one environment."""

    live: Target | None = None  # what the app runs now, None when Heroku was not read
    deploys: list = field(default_factory=list)  # earlier succeeded deploys with a release
    outside: list = field(default_factory=list)  # releases made outside herokucd
    problem: str = ""  # why Heroku could not be read

    @property
    def all(self):
        return [*self.deploys, *self.outside]

    def default(self, deploy_number=None) -> Target | None:
        """`?to=<deploy number>` when it is offered, else the newest deploy, else a release."""
        wanted = [t for t in self.deploys if t.deploy.number == deploy_number]
        return (wanted or self.deploys or self.outside or [None])[0]


@dataclass
class RestoreOffer:
    """What a rollback to one release can do about the database: the deploys since that
    release that ran a migration (newest first); the backup taken before the earliest of them
    puts the database back as that release's code knew it."""

    migrated: list

    @property
    def first(self) -> Deploy:
        return self.migrated[-1]

    @property
    def backup_name(self) -> str:
        return self.first.backup_name


def restore_offers(environment, versions) -> dict[int, RestoreOffer]:
    """{version: RestoreOffer} of the release `versions` with a migration run since them."""
    migrated = list(
        Deploy.objects.filter(
            environment=environment,
            app_name=environment.app_name,
            ran_migration=True,
            release_version__isnull=False,
        ).order_by("-number")[:100]
    )
    offers = {}
    for version in versions:
        since = [deploy for deploy in migrated if deploy.release_version > version]
        if since:
            offers[version] = RestoreOffer(since[:CHOICES])
    return offers


def rollback_choices(environment) -> Choices:
    """The environment's earlier succeeded deploys and Heroku's recent releases of its app,
    without the live one. Heroku unreachable: the deploys alone, with the problem."""
    app = environment.app_name
    credential = getattr(environment.project, "heroku_credential", None)
    if credential is None:
        return Choices(deploys=_deploy_targets(environment, None), problem=NO_KEY)
    try:
        # One retry: a person waits for this page.
        with HerokuClient(credential.api_key, retries=1) as client:
            return _choices(client, environment)
    except HerokuError as error:
        problem = f"Heroku could not be asked for the releases of {app}: {error}"
        return Choices(deploys=_deploy_targets(environment, None), problem=problem)


def _choices(client, environment) -> Choices:
    releases = client.releases(environment.app_name, limit=RELEASES_LISTED)
    current = next((release for release in releases if release.get("current")), None)
    rollbackable = _rollbackable(releases)
    choices = Choices(deploys=_deploy_targets(environment, rollbackable))
    if current is not None:
        choices.live = _release_target(client, environment, current)
    outside = outside_choices(environment, releases)
    choices.outside = [_release_target(client, environment, r) for r in outside]
    return choices


def _rollbackable(releases) -> dict:
    return {
        release["version"]: release
        for release in releases
        if not release.get("current")
        and release.get("slug")
        and release.get("status") == "succeeded"
        and release.get("eligible_for_rollback", True)
    }


def outside_choices(environment, releases) -> list:
    """The releases made outside herokucd that the chooser offers: the newest CHOICES of the app's
    recent `releases` that no deploy of the project made. A rollback may go only to these or to
    a release one of the project's deploys made."""
    rollbackable = _rollbackable(releases)
    made_here = set(
        Deploy.objects.filter(
            project_id=environment.project_id,
            app_name=environment.app_name,
            release_version__in=rollbackable,
        ).values_list("release_version", flat=True)
    )
    outside = [rollbackable[v] for v in sorted(rollbackable, reverse=True) if v not in made_here]
    return outside[:CHOICES]


def _deploy_targets(environment, releases: dict | None) -> list[Target]:
    """Succeeded deploys of the environment's app with a release, newest first; with Heroku's
    `releases` (by version), only those Heroku can roll back to."""
    deploys = Deploy.objects.filter(
        environment=environment,
        app_name=environment.app_name,
        state="succeeded",
        release_version__isnull=False,
    ).select_related("triggered_by")
    if releases is not None:
        deploys = deploys.filter(release_version__in=releases)
    targets = []
    for deploy in deploys.order_by("-number")[:CHOICES]:
        release = (releases or {}).get(deploy.release_version, {})
        who = deploy.triggered_by.username if deploy.triggered_by else deploy.get_trigger_display()
        targets.append(
            Target(
                version=deploy.release_version,
                commit=deploy.sha,
                deploy=deploy,
                release_id=release.get("id", ""),
                user=who,
                released_at=deploy.finished_at,
                description=release.get("description", ""),
            )
        )
    return targets


def _release_target(client, environment, release) -> Target:
    version = release["version"]
    deploy_id = made_by(environment, environment.app_name, version)
    return Target(
        version=version,
        commit=client.release_commit(environment.app_name, release) or "",
        deploy=Deploy.objects.filter(pk=deploy_id).first() if deploy_id else None,
        release_id=release["id"],
        user=(release.get("user") or {}).get("email", ""),
        released_at=_moment(release.get("created_at")),
        description=release.get("description") or "",
    )
