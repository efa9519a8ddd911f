"""The per-project mirror clone, and checkouts of one commit from it.

One bare mirror per project in DATA_DIR/mirrors/ is fetched before each deploy, so a deploy
downloads only what is new. A deploy works in its own worktree of the mirror, removed after.
A shallow mirror is unshallowed for git push (Heroku refuses pushes from shallow repositories);
a Build API deploy uploads one commit's tree, so its fetch leaves a shallow mirror shallow.
"""

import contextlib
import fcntl
import re
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from deploys import logformat, runners
from deploys.models import Trigger
from herokucd import git
from projects import branches
from projects.models import DeployMethod

FETCH_TIMEOUT = 900


class UnknownCommit(runners.CommandFailed):
    pass


class NotOnBranch(runners.CommandFailed):
    pass


class Relay:
    """A log writer's stand-in for output made before the writer is there (a fetch started
    while the deploy sets up): keeps it until `attach(writer)`, then passes it straight on."""

    def __init__(self):
        self._lock = threading.Lock()  # kept output reaches the writer before newer output
        self._kept = []
        self._writer = None

    def system(self, text):
        self._pass("system", text)

    def lines(self, lines, stream=logformat.STDOUT):
        self._pass("lines", list(lines), stream)

    def _pass(self, name, *args):
        with self._lock:
            if self._writer is None:
                self._kept.append((name, args))
            else:
                getattr(self._writer, name)(*args)

    def attach(self, writer):
        with self._lock:
            for name, args in self._kept:
                getattr(writer, name)(*args)
            self._kept, self._writer = [], writer


class Fetch:
    """`update(project)` (or `target`) in a thread, started before the deploy needs its mirror:
    what git prints is kept until `result(writer)` shows it. `cancel_event` stops git."""

    def __init__(self, project, target=None):
        self.cancel_event = threading.Event()
        self._output = Relay()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="deploy-fetch")
        target = target or update
        self._future = self._pool.submit(target, project, self._output, self.cancel_event)

    def result(self, writer) -> Path:
        """The mirror, once fetched; git's output so far and from now on goes to `writer`."""
        self._output.attach(writer)
        return self._future.result()

    def close(self, stop=False) -> None:
        """Wait for git to end (it holds the mirror's lock); with `stop`, stop it first, as a
        cancel does. Closing again does nothing."""
        if stop and not self._future.done():
            self.cancel_event.set()
        self._pool.shutdown(wait=True)


def is_cloned(project) -> bool:
    return (mirror_path(project) / "HEAD").exists()


def fetch_ahead(deploy, clone=False) -> Fetch | None:
    """Start fetching the deploy's mirror now, in a thread; the checkout step waits for it.

    What it buys: git fetches from the project's repository while the deploy is claimed and
    set up (its key read, log writer, heartbeat, steps planned, config vars asked for), so the
    checkout mostly finds the commit there already instead of starting the fetch itself.
    Without `clone`, only for a mirror cloned already: a first clone waits until the deploy is
    claimed (a deploy that does not get its app would clone for nothing). A rollback pushes a
    release Heroku has, and a promotion copies one: nothing to fetch. git fetches from the
    source repository, not from Heroku: this costs nothing of Heroku's git rate limit.
    """
    if deploy.trigger in (Trigger.ROLLBACK, Trigger.PROMOTION):
        return None
    if clone or is_cloned(deploy.project):
        return Fetch(deploy.project, None if needs_history(deploy) else update_without_history)
    return None


def needs_history(deploy) -> bool:
    """git push sends history; a Build API deploy uploads one commit's tree (buildapi.py)."""
    environment = deploy.environment
    return environment is None or environment.deploy_method != DeployMethod.BUILD_API


def mirror_path(project) -> Path:
    project_id = project if isinstance(project, int) else project.pk
    return Path(settings.DATA_DIR) / "mirrors" / f"{project_id}.git"


@contextlib.contextmanager
def locked(project):
    """One deploy at a time updates a project's mirror (deploys of other apps may share it)."""
    path = mirror_path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def update_without_history(project, writer, cancel_event=None) -> Path:
    """`update` for a deploy that needs no history: a shallow mirror stays shallow."""
    return update(project, writer, cancel_event, unshallow=False)


def update(project, writer, cancel_event=None, unshallow=True) -> Path:
    """Clone or fetch the project's mirror; unshallow it when it is shallow (and `unshallow`)."""
    with locked(project) as path:
        limits = {"timeout": FETCH_TIMEOUT, "idle_timeout": None, "cancel_event": cancel_event}
        source = _source(project)
        fresh = not (path / "HEAD").exists()
        if fresh:
            writer.system(f"Cloning {shown(project.repository_url)}")
            args = ["git", "clone", "--mirror", "--quiet", "--", project.repository_url, str(path)]
            _run(args, path.parent, writer, limits, source)
        elif origin_url(path) != project.repository_url:
            # The project's repository URL changed since the mirror was made.
            runners.git("remote", "set-url", "origin", project.repository_url, cwd=path)
        if unshallow and is_shallow(path):
            writer.system("The mirror is a shallow clone: fetching its full history (unshallow).")
            args = ["git", "fetch", "--unshallow", "--prune", "origin"]
            _run(args, path, writer, limits, source)
        elif not fresh:
            writer.system(f"Fetching {shown(project.repository_url)}")
            _run(["git", "fetch", "--prune", "origin"], path, writer, limits, source)
        return path


def _source(project) -> tuple[str, str]:
    """The project's repository URL and its credential, once the URL is checked again: a row
    changed behind the form (or an allowed folder no longer allowed) reads nothing."""
    try:
        git.check_repository_url(project.repository_url)
    except git.RepositoryRefused as refused:
        raise runners.CommandFailed(str(refused)) from None
    return project.repository_url, project.repository_userinfo


def shown(url: str) -> str:
    """The repository URL without a user or token in it, fit for the log."""
    parts = urlsplit(url)
    if not parts.netloc or "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _run(args, cwd, writer, limits, source):
    """Run a git command that reads the repository at `source` (URL, credential). What git
    says reaches the log only when it succeeds: its errors would tell an open port from a
    closed one, or an existing file from a missing one (one message says it failed)."""
    url, userinfo = source
    kept = Kept()
    with runners.private_home() as home:
        env = git.git_env(home, url, userinfo) | git.protocol_env(url)
        status = runners.run(args, cwd=cwd, env=env, writer=kept, **limits)
    if status != 0:
        raise runners.CommandFailed(
            f"`{' '.join(args[:2])}` failed: {git.UNREADABLE}. Check the project's repository "
            "URL, and that the workers can reach it (its token, or the workers' ssh key).",
            status,
        )
    kept.pass_to(writer)


class Kept:
    """A log writer's stand-in keeping git's output until it is known to be harmless."""

    def __init__(self):
        self._lines = []

    def lines(self, lines, stream=logformat.STDOUT):
        self._lines.append((list(lines), stream))

    def system(self, text):
        self._lines.append(([text], logformat.STDOUT))

    def pass_to(self, writer):
        for lines, stream in self._lines:
            writer.lines(lines, stream)


def origin_url(path) -> str | None:
    """The URL the mirror fetches from, read from its config file without starting git;
    None when the file does not say it plainly (then the caller sets it again)."""
    try:
        config = (path / "config").read_text()
    except OSError:
        return None
    section = re.search(r'^\[remote "origin"\]\s*$(.*?)(?=^\s*\[|\Z)', config, re.M | re.S)
    urls = re.findall(r"^\s*url\s*=\s*(.*?)\s*$", section.group(1), re.M) if section else []
    return urls[0] if len(urls) == 1 else None


def is_shallow(path) -> bool:
    # What `git rev-parse --is-shallow-repository` checks, without starting git.
    return (path / "shallow").exists()


def resolve(path, sha="", branch="") -> str:
    """The full sha of the commit to deploy: `sha`, or the head of `branch`."""
    wanted = sha or f"refs/heads/{branch}"
    result = runners.git(
        "rev-parse", "--verify", "--quiet", f"{wanted}^{{commit}}", cwd=path, check=False
    )
    if result.returncode != 0:
        what = f"Commit {sha[:12]}" if sha else f"Branch {branch}"
        raise UnknownCommit(f"{what} is not in the repository (was it pushed?).")
    return result.stdout.strip()


def commit_on_branch(path, sha, branch) -> str:
    """The full sha of `sha`, refused unless it is the tip of `branch` or reachable from it
    (check_on_branch). The commit a CI built is mostly the branch's tip: then one git command
    reads both and nothing more is asked; otherwise, as for any commit, three."""
    wanted = [f"{sha}^{{commit}}", f"refs/heads/{branch}^{{commit}}"]
    both = runners.git("rev-parse", "--quiet", *wanted, "--", cwd=path, check=False)
    found = both.stdout.split()
    if both.returncode == 0 and len(found) == 3 and found[0] == found[1]:
        return found[0]
    full = resolve(path, sha)
    check_on_branch(path, full, branch)
    return full


def check_on_branch(path, sha, branch) -> None:
    """Refuse `sha` unless it is the tip of `branch` or reachable from it. A webhook names both,
    and a signed build of any branch must not deploy to the environment of another."""
    tip = resolve(path, branch=branch)
    result = runners.git("merge-base", "--is-ancestor", sha, tip, cwd=path, check=False)
    if result.returncode != 0:
        raise NotOnBranch(
            f"Commit {sha[:7]} is not on branch {branch} (tip {tip[:7]}): herokucd deploys only "
            f"commits of the mapped branch. Merge it into {branch}, or deploy it by hand."
        )


@contextlib.contextmanager
def worktree(project, sha):
    """A checkout of `sha` in a temporary folder, removed afterwards."""
    target = Path(tempfile.mkdtemp(prefix="herokucd-checkout-"))
    path = mirror_path(project)
    try:
        with locked(project):
            runners.git("worktree", "add", "--detach", "--force", str(target), sha, cwd=path)
        yield target
    finally:
        shutil.rmtree(target, ignore_errors=True)
        with locked(project):
            runners.git("worktree", "prune", cwd=path, check=False)


# -- Read-only questions for pages (no network, bounded) ----------------------------------------

RECENT_COMMITS = 20
READ_TIMEOUT = 5  # seconds: a page waits no longer for the local mirror
SUBJECT_MAX = 200


@dataclass(frozen=True)
class Commit:
    """A commit as the Deploy form lists it. `subject` and `author` are the repository's
    untrusted text: templates escape them."""

    sha: str
    subject: str
    author: str
    date: datetime

    @property
    def short_sha(self) -> str:
        return self.sha[:7]


def fetched_at(project) -> datetime | None:
    """When the mirror was last cloned or fetched (a fetch writes FETCH_HEAD), None when it is
    not cloned."""
    path = mirror_path(project)
    for name in ("FETCH_HEAD", "HEAD"):
        with contextlib.suppress(OSError):
            return datetime.fromtimestamp((path / name).stat().st_mtime, tz=UTC)
    return None


def recent_commits(project, branch: str, count: int = RECENT_COMMITS) -> list[Commit]:
    """The last `count` commits of `branch` in the project's mirror, newest first; [] when the
    mirror is not cloned, has no such branch, or git does not answer within READ_TIMEOUT."""
    if not is_cloned(project) or not branches.is_name(branch):
        return []
    out = _read(
        mirror_path(project),
        "log",
        f"--max-count={min(count, 100)}",
        "--no-show-signature",
        # git cuts author and subject itself: a subject of megabytes never reaches the page.
        f"--format=%H%x00%<({SUBJECT_MAX},trunc)%an%x00%ct%x00%<({SUBJECT_MAX},trunc)%s%x00",
        f"refs/heads/{branch}",
        "--",
    )
    fields = out.split("\x00")
    commits = []
    for start in range(0, len(fields) - 4, 4):
        sha, author, stamp, subject = (part.strip("\n") for part in fields[start : start + 4])
        commits.append(_commit(sha, author, stamp, subject))
    return [commit for commit in commits if commit is not None]


def branch_tip(project, branch: str) -> str | None:
    """The full sha `branch` points at in the mirror, None when unknown there."""
    if not is_cloned(project) or not branches.is_name(branch):
        return None
    return (
        _read(
            mirror_path(project),
            "rev-parse",
            "--verify",
            "--quiet",
            f"refs/heads/{branch}^{{commit}}",
        ).strip()
        or None
    )


def has_commit(project, sha: str) -> str | None:
    """The full sha of commit `sha` (7 to 40 hex digits) in the mirror, None when unknown."""
    if not is_cloned(project) or not re.fullmatch(r"[0-9a-f]{7,40}", sha):
        return None
    return (
        _read(mirror_path(project), "rev-parse", "--verify", "--quiet", f"{sha}^{{commit}}").strip()
        or None
    )


def is_older(project, sha: str, than: str) -> bool:
    """Whether commit `sha` is an ancestor of commit `than` (and not `than` itself) in the
    mirror; False when either is unknown there."""
    sha, than = has_commit(project, sha), has_commit(project, than)
    if not (sha and than) or sha == than:
        return False
    path = mirror_path(project)
    try:
        result = runners.git(
            "merge-base", "--is-ancestor", sha, than, cwd=path, check=False, timeout=READ_TIMEOUT
        )
    except (subprocess.TimeoutExpired, OSError):
        return False
    return result.returncode == 0


def _commit(sha, author, stamp, subject) -> Commit | None:
    if not re.fullmatch(r"[0-9a-f]{40}", sha) or not stamp.isdigit():
        return None
    date = datetime.fromtimestamp(int(stamp), tz=UTC)
    return Commit(sha, subject[:SUBJECT_MAX].rstrip(), author[:SUBJECT_MAX].rstrip(), date)


def _read(path, *args) -> str:
    """A local git command on the mirror for a page: its output, or "" when it fails or takes
    longer than READ_TIMEOUT (a page never waits on git)."""
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=path,
            capture_output=True,
            timeout=READ_TIMEOUT,
            env=git.git_env(git.quiet_home()),
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (subprocess.TimeoutExpired, OSError):
        return ""
    # A commit message need not be UTF-8: what is not reads as �, the rest of the list stays.
    return result.stdout.decode(errors="replace") if result.returncode == 0 else ""
