"""What is going out: the commits between what is live on an environment's app and what a
deploy puts there, from the project's mirror (deploys/mirror.py, local git only, bounded by
mirror.READ_TIMEOUT), with the files among them that look like database migrations.

Pages call it; it never fetches (the mirror is as fresh as the last deploy or Deploy form).
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase

from deploys import mirror
from deploys.models import Deploy, State

LISTED = 30  # commits listed; the rest are counted ("and N more")
FILES_LISTED = 20
# fnmatch's * crosses "/": "*db/migrate/*.rb" matches db/migrate/1_x.rb in any folder.
DEFAULT_MIGRATION_GLOBS = [
    "*migrations/[0-9]*.py",  # Django: app/migrations/0001_initial.py
    "*db/migrate/*.rb",  # Rails
    "*alembic/versions/*.py",  # Alembic
    "*migrations/versions/*.py",  # Alembic through Flask-Migrate
    "*prisma/migrations/*.sql",  # Prisma: prisma/migrations/<name>/migration.sql
    "*migrations/*.js",  # Knex
    "*migrations/*.ts",
    "*migrations/*.cjs",
    "*migrations/*.mjs",
]
SHA = re.compile(r"[0-9a-f]{7,40}")


@dataclass
class Outgoing:
    """The commits of `base..target`, newest first (at most LISTED of them)."""

    base: str  # the live commit
    target: str  # the commit deployed
    commits: list = field(default_factory=list)
    total: int = 0
    merges: int = 0
    migrations: list = field(default_factory=list)  # paths, at most FILES_LISTED
    migration_total: int = 0
    behind: int = 0  # commits of base that target lacks: a deploy going back in history

    @property
    def more(self) -> int:
        return self.total - len(self.commits)

    @property
    def summary(self) -> str:
        commits = f"{self.total} commit{'s' if self.total != 1 else ''}"
        return f"{commits}, {self.merges} merge{'s' if self.merges != 1 else ''}"


def globs_of(environment) -> list[str]:
    lines = (environment.migration_globs or "").splitlines() if environment else []
    return [line.strip() for line in lines if line.strip()] or DEFAULT_MIGRATION_GLOBS


def looks_like_migration(path: str, globs) -> bool:
    return any(fnmatchcase(path, glob) for glob in globs)


def between(project, base: str, target: str, globs=DEFAULT_MIGRATION_GLOBS) -> Outgoing | None:
    """What deploying `target` over `base` brings; None when the mirror does not know both."""
    base, target = mirror.has_commit(project, base), mirror.has_commit(project, target)
    if not (base and target):
        return None
    path = mirror.mirror_path(project)
    span = f"{base}..{target}"
    out = Outgoing(base, target)
    out.total = _count(path, span)
    out.merges = _count(path, span, "--merges")
    out.behind = _count(path, f"{target}..{base}")
    out.commits = _log(path, span) if out.total else []
    if out.total:
        changed = mirror._read(path, "diff", "--name-only", "-z", "--no-renames", base, target)
        names = [name for name in changed.split("\x00") if name]
        found = [name for name in names if looks_like_migration(name, globs)]
        out.migration_total, out.migrations = len(found), found[:FILES_LISTED]
    return out


def _count(path, span, *options) -> int:
    text = mirror._read(path, "rev-list", "--count", *options, span, "--").strip()
    return int(text) if text.isdigit() else 0


def _log(path, span) -> list:
    out = mirror._read(
        path,
        "log",
        f"--max-count={LISTED}",
        "--no-show-signature",
        f"--format=%H%x00%<({mirror.SUBJECT_MAX},trunc)%an%x00%ct%x00"
        f"%<({mirror.SUBJECT_MAX},trunc)%s%x00",
        span,
        "--",
    )
    fields = out.split("\x00")
    commits = []
    for start in range(0, len(fields) - 4, 4):
        sha, author, stamp, subject = (part.strip("\n") for part in fields[start : start + 4])
        commits.append(mirror._commit(sha, author, stamp, subject))
    return [commit for commit in commits if commit is not None]


# -- What pages ask ----------------------------------------------------------------------------


def live_commit(environment) -> str:
    """The commit live on the environment's app: what Heroku said last (LiveRelease), else the
    last succeeded deploy's."""
    release = getattr(environment, "live_release", None) if environment else None
    if release is not None and release.commit and release.app_name == environment.app_name:
        return release.commit
    last = (
        Deploy.objects.filter(environment=environment, state=State.SUCCEEDED)
        .order_by("-number")
        .values_list("sha", flat=True)
        .first()
    )
    return last or ""


def for_confirmation(environment, sha: str) -> Outgoing | None:
    base = live_commit(environment)
    if not (base and sha):
        return None
    return between(environment.project, base, sha, globs_of(environment))


def for_deploy(deploy) -> Outgoing | None:
    """A deploy not finished: from what is live now. A finished one: from what was live before
    it (the previous succeeded deploy of its environment), so its page keeps its meaning."""
    if not deploy.sha or deploy.environment is None:
        return None
    if deploy.is_finished:
        base = (
            Deploy.objects.filter(
                environment_id=deploy.environment_id,
                state=State.SUCCEEDED,
                number__lt=deploy.number,
            )
            .order_by("-number")
            .values_list("sha", flat=True)
            .first()
        )
    else:
        base = live_commit(deploy.environment)
    if not base:
        return None
    return between(deploy.project, base, deploy.sha, globs_of(deploy.environment))


def behind_branch(project, environment, live: str) -> int | None:
    """How many commits the environment's branch has that the live commit lacks, from the
    mirror; None when unknown (not cloned, a branch pattern, the commit not fetched)."""
    tip = mirror.branch_tip(project, environment.branch.strip())
    live = mirror.has_commit(project, live) if live and SHA.fullmatch(live) else None
    if not (tip and live):
        return None
    return _count(mirror.mirror_path(project), f"{live}..{tip}")


def commit_time(project, sha: str) -> datetime | None:
    """When commit `sha` was committed, from the mirror."""
    if not mirror.is_cloned(project) or not SHA.fullmatch(sha or ""):
        return None
    stamp = mirror._read(mirror.mirror_path(project), "show", "-s", "--format=%ct", sha).strip()
    return datetime.fromtimestamp(int(stamp), tz=UTC) if stamp.isdigit() else None
