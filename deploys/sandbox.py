"""The bubblewrap sandbox that custom commands run in.

A command sees a read-only system (/usr and the few /etc files programs need), the Heroku CLI
read-only, a private HOME and /tmp, and the deploy's own checkout, writable; nothing else of the
host: not the data folder (database, Redis socket, keys, other projects' mirrors), not other
checkouts, not herokucd's source. It gets its own PID namespace (no other process in /proc, no
worker to kill), an unprivileged uid, no capabilities, and dies with the worker. The network is
the host's: the Heroku CLI must reach Heroku.

bwrap is probed once per process by making a sandbox that runs `true`; where that fails, a deploy
with custom commands fails before it changes anything, unless the operator set
UNSANDBOXED_COMMANDS.
"""

import functools
import shutil
import subprocess
from pathlib import Path

from django.conf import settings

HOME = "/home/deploy"
CLI_ROOT = "/opt/heroku-cli"
UID = 1000
# Merged /usr (Debian, Ubuntu, Fedora): these are symlinks into /usr.
USR_LINKS = ("bin", "lib", "lib64", "sbin")
# What programs read in /etc: names, certificates, DNS, the dynamic loader, Debian's
# alternatives (/usr/bin symlinks point there). Not /etc as a whole: it may hold secrets.
ETC = (
    "/etc/alternatives",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/passwd",
    "/etc/group",
    "/etc/localtime",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/mime.types",
)
INSTALL = (
    "install bubblewrap (Debian and Ubuntu: apt-get install bubblewrap; Fedora: dnf install "
    "bubblewrap), or set UNSANDBOXED_COMMANDS=True to run commands on the worker host itself "
    "(any project admin can then read herokucd's secrets)"
)


class Unavailable(Exception):
    """No sandbox can be made here; str() says why and what to install."""


def enabled() -> bool:
    return not settings.UNSANDBOXED_COMMANDS


def require():
    """Raise Unavailable, with what to do, when commands cannot run sandboxed."""
    if enabled():
        problem = _probe(settings.BWRAP)
        if problem:
            message = f"Custom commands run in a bubblewrap sandbox, but {problem}: {INSTALL}."
            raise Unavailable(message)


@functools.cache
def _probe(bwrap) -> str:
    """Why `bwrap` cannot make a sandbox on this host, or "" when it can (asked once)."""
    path = shutil.which(bwrap)
    if path is None:
        return f"bwrap was not found at {bwrap}"
    try:
        result = subprocess.run(
            [*_base(path), "true"], capture_output=True, text=True, timeout=30, env={}
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap could not start ({error})"
    if result.returncode != 0:
        said = (result.stderr.strip().splitlines() or ["no message"])[-1]
        return f"bwrap could not make a sandbox on this host ({said}; user namespaces refused?)"
    return ""


def _base(bwrap) -> list[str]:
    """The namespaces and the read-only system every sandbox has."""
    args = [
        bwrap,
        "--die-with-parent",
        "--new-session",
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--uid",
        str(UID),
        "--gid",
        str(UID),
        "--cap-drop",
        "ALL",
        "--ro-bind",
        "/usr",
        "/usr",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",  # noqa: S108 (the sandbox's own, empty /tmp)
    ]
    for name in USR_LINKS:
        if Path(f"/{name}").is_symlink():
            args += ["--symlink", f"usr/{name}", f"/{name}"]
        else:
            args += ["--ro-bind-try", f"/{name}", f"/{name}"]
    for path in ETC:
        args += ["--ro-bind-try", path, path]
    return args


def cli_mount() -> tuple[Path, Path] | None:
    """The Heroku CLI's install folder, and the folder of its program relative to it: npm's
    `<root>/node_modules/.bin/heroku` or the standalone tarball's `<root>/bin/heroku`."""
    cli = Path(settings.HEROKU_CLI)
    if "node_modules" in cli.parts:
        index = cli.parts.index("node_modules")
        root, program_dir = Path(*cli.parts[:index]), Path(*cli.parts[index:]).parent
    else:
        real = cli.resolve()
        root, program_dir = real.parent.parent, Path(real.parent.name)
    root = root.resolve()
    if not root.is_dir() or _holds_secrets(root):
        return None
    return root, program_dir


def _holds_secrets(folder: Path) -> bool:
    """A folder that has the data folder or herokucd's source in it is never bound."""
    places = (settings.DATA_DIR, settings.BASE_DIR)
    return any(Path(place).resolve().is_relative_to(folder) for place in places)


def path() -> str:
    """PATH inside the sandbox: the Heroku CLI first, then the system's programs."""
    mount = cli_mount()
    cli = f"{CLI_ROOT}/{mount[1]}:" if mount else ""
    return f"{cli}/usr/local/bin:/usr/bin:/bin"


def wrap(args, *, checkout, home, env) -> list[str]:
    """`args` run by bwrap in a sandbox where `checkout` (same path) and `home` (as HOME) are
    writable. Files that `env` names (a CA bundle) are bound read-only."""
    wrapped = _base(shutil.which(settings.BWRAP) or settings.BWRAP)  # probed by require()
    mount = cli_mount()
    if mount is not None:
        wrapped += ["--ro-bind", str(mount[0]), CLI_ROOT]
    if env.get("NODE_EXTRA_CA_CERTS"):
        wrapped += ["--ro-bind-try", env["NODE_EXTRA_CA_CERTS"], env["NODE_EXTRA_CA_CERTS"]]
    checkout = str(checkout)
    wrapped += ["--bind", str(home), HOME, "--bind", checkout, checkout, "--chdir", checkout]
    return [*wrapped, "--", *args]
