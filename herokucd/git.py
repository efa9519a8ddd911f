"""Repository URLs (which ones herokucd reads, their credential kept apart) and read-only
questions to git repositories (the deploy engine's git work lives in deploys/)."""

import base64
import os
import re
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings

LS_REMOTE_TIMEOUT = 20
# One answer for every failure: git's own words would tell an open port from a closed one, or
# an existing file from a missing one, to whoever types the URL.
UNREADABLE = "git could not read this repository"
MASK = "••••"
# git's scp-like syntax: [user@]host:path, with no slash before the colon (git's own rule).
SCP_LIKE = re.compile(r"\A(?:[A-Za-z0-9._~%+-]+@)?[A-Za-z0-9][A-Za-z0-9.-]*:(?!:)(?!//)[^\s]+\Z")
REMOTE_SCHEMES = ("https://", "ssh://", "git+ssh://", "ssh+git://")


class GitError(Exception):
    """git could not answer; the message never carries git's own words."""


class RepositoryRefused(ValueError):
    """A repository URL herokucd does not read; the message says what to do instead."""


# -- Which URLs ---------------------------------------------------------------------------------


def check_repository_url(url: str) -> None:
    """Raise RepositoryRefused unless `url` is an https, ssh or scp-like git URL, or a local
    path inside a folder the operator allowed (ALLOWED_LOCAL_REPOSITORY_FOLDERS)."""
    try:
        _check_repository_url(url)
    except RepositoryRefused:
        raise
    except ValueError:  # urlsplit's bad [IPv6] host, a NUL byte in a path: not a server error
        raise RepositoryRefused(
            "This is not a valid repository URL: give e.g. https://github.com/owner/repo.git"
        ) from None


def _check_repository_url(url: str) -> None:
    if url.startswith("-"):
        raise RepositoryRefused("A repository URL cannot start with “-”.")
    if url.lower().startswith(REMOTE_SCHEMES):
        parts = urlsplit(url)
        # git decodes %XX in the host and user (%2DoProxyCommand=...) before calling ssh.
        host, user = unquote(parts.hostname or ""), unquote(parts.username or "")
        if not host or host.startswith("-") or user.startswith("-"):  # would be an ssh option
            raise RepositoryRefused("This URL names no host: give e.g. https://github.com/o/r.git")
        return
    if url.lower().startswith("file://"):
        local_folder(unquote(urlsplit(url).path))
        return
    if re.match(r"\A[A-Za-z][A-Za-z0-9+.-]*(://|::)", url):
        raise RepositoryRefused(
            "Only https and ssh git URLs are allowed (https://host/owner/repo.git, "
            "ssh://git@host/owner/repo.git or git@host:owner/repo.git)."
        )
    if SCP_LIKE.match(url) and "/" not in url.split(":", 1)[0]:
        return
    local_folder(url)


def local_folder(path: str) -> Path:
    """The resolved local repository `path`, if it lies inside an allowed folder and outside
    the data folder; else RepositoryRefused."""
    try:
        resolved = Path(os.path.abspath(path)).resolve()
        reached = [resolved, *_git_dirs(resolved)]
    except OSError:  # a name too long for any folder (a NUL byte is a ValueError: not a URL)
        raise RepositoryRefused(
            "This is neither a git URL nor a folder this machine can have: use the "
            "repository's git URL (https://host/owner/repo.git or git@host:owner/repo.git)."
        ) from None
    data_dir = Path(settings.DATA_DIR).resolve()
    allowed = [Path(folder).resolve() for folder in settings.ALLOWED_LOCAL_REPOSITORY_FOLDERS]
    inside = any(resolved.is_relative_to(folder) for folder in allowed)
    if not inside or any(place.is_relative_to(data_dir) for place in reached):
        raise RepositoryRefused(
            "Local paths are not allowed: use the repository's git URL, or ask the "
            f"administrator to allow {resolved.parent}"
        )
    return resolved


def _git_dirs(path: Path):
    """What git opens for the local repository `path`: it also tries path/.git, path.git/.git
    and path.git, and follows a "gitdir: <folder>" file, which may point anywhere (another
    project's mirror in the data folder)."""
    for candidate in (path / ".git", path, Path(f"{path}.git") / ".git", Path(f"{path}.git")):
        place = candidate.resolve()
        yield place
        if place.is_file():
            with place.open(errors="replace") as gitfile:
                line = gitfile.readline(4096).strip()
            if line.startswith("gitdir:"):
                yield (place.parent / line.removeprefix("gitdir:").strip()).resolve()


def is_local(url: str) -> bool:
    return url.lower().startswith("file://") or not (
        url.lower().startswith(REMOTE_SCHEMES) or SCP_LIKE.match(url)
    )


# -- The credential in a URL, kept apart --------------------------------------------------------


def split_userinfo(url: str) -> tuple[str, str]:
    """(`url` without its user info, the user info) for an https URL; ssh's user stays."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or "@" not in parts.netloc:
        return url, ""
    userinfo, _, host = parts.netloc.rpartition("@")
    return parts._replace(netloc=host).geturl(), userinfo


def masked(url: str, userinfo: str) -> str:
    """The URL as a page may show it: https://ci-bot:••••@host/..., never the secret part."""
    if not userinfo:
        return url
    user, has_password, _ = userinfo.partition(":")
    shown = f"{user}:{MASK}" if has_password else MASK
    parts = urlsplit(url)
    return parts._replace(netloc=f"{shown}@{parts.netloc}").geturl()


def credential_env(url: str, userinfo: str, env: dict) -> dict:
    """`env` plus git configuration sending `userinfo` as Basic authorization to `url`'s host
    only: through GIT_CONFIG_*, so it is on no command line and in no config file."""
    if not userinfo:
        return env
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    parts = urlsplit(url)
    values = {
        f"http.{parts.scheme}://{parts.netloc}/.extraHeader": f"Authorization: Basic {token}",
        "http.followRedirects": "false",  # the header goes to no other host
    }
    return env | config_env(values, env)


def config_env(values: dict, env: dict | None = None) -> dict:
    """GIT_CONFIG_KEY_n/VALUE_n entries for `values`, after those already in `env`."""
    start = int((env or {}).get("GIT_CONFIG_COUNT", "0"))
    out = {}
    for number, (key, value) in enumerate(values.items(), start=start):
        out[f"GIT_CONFIG_KEY_{number}"], out[f"GIT_CONFIG_VALUE_{number}"] = key, value
    out["GIT_CONFIG_COUNT"] = str(start + len(values))
    return out


def protocol_env(url: str) -> dict:
    """Transports git may use for `url`: https and ssh, plus file for an allowed local path, so
    a URL changed behind the form (or a redirect, a submodule) cannot reach anything else.
    An operator's GIT_SSL_CAINFO (a company's own certificate authority) is kept."""
    allowed = "https:ssh"
    if is_local(url):
        try:
            check_repository_url(url)
            allowed += ":file"
        except RepositoryRefused:
            pass
    env = {"GIT_ALLOW_PROTOCOL": allowed}
    if os.environ.get("GIT_SSL_CAINFO"):
        env["GIT_SSL_CAINFO"] = os.environ["GIT_SSL_CAINFO"]
    return env


# -- Questions to a repository ------------------------------------------------------------------


def git_env(home, url: str = "", userinfo: str = "") -> dict:
    """git's whole environment, built clean (nothing of the worker's own but PATH): no prompt
    that would wait for a person, no system configuration, HOME `home`; for an ssh `url`, ssh
    in batch mode; with `userinfo`, the credential sent as Basic authorization to `url`'s host
    alone (credential_env). Custom commands start from it too (deploys/runners.py).

    ssh finds the workers' key through the account's home, not HOME, so `home` may be private."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_ASKPASS": "/bin/false",  # never prompt: a missing or wrong credential simply fails
    }
    if url and not is_local(url) and not url.lower().startswith("https://"):
        env["SSH_ASKPASS"] = "/bin/false"
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes -o ConnectTimeout=10"
    return credential_env(url, userinfo, env)


def quiet_home() -> Path:
    """The HOME of herokucd's own local git commands: an empty folder inside the private data
    folder. Never the shared temporary folder, where any local account could leave a .gitconfig
    (core.hooksPath, say) that git would obey as herokucd."""
    home = Path(settings.DATA_DIR) / "git-home"
    home.mkdir(mode=0o700, exist_ok=True)
    return home


def ls_remote_heads(url: str, userinfo: str = "") -> list[str]:
    """The branch names of the repository at `url` (checked with check_repository_url first)."""
    command = ["git", "ls-remote", "--heads", "--", url]
    try:
        with tempfile.TemporaryDirectory(prefix="herokucd-home-") as home:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=LS_REMOTE_TIMEOUT,
                env=git_env(home, url, userinfo) | protocol_env(url),
                stdin=subprocess.DEVNULL,
            )
    except subprocess.TimeoutExpired:
        raise GitError(UNREADABLE) from None
    if result.returncode != 0:
        raise GitError(UNREADABLE)
    return [line.split("refs/heads/", 1)[1] for line in result.stdout.splitlines() if line]
