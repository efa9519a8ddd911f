"""The git and command runners: subprocesses whose output streams, line by line, into the log.

Every subprocess runs in its own process group, so a timeout or a cancel kills it and whatever
it started. The Heroku API key reaches a subprocess only through its environment: git as an
Authorization header for the Heroku git host alone (configuration by environment variables),
custom commands through HEROKU_API_KEY and a ~/.netrc in a private temporary HOME that is deleted
afterwards. Custom commands run in a bubblewrap sandbox (deploys/sandbox.py).
"""

import contextlib
import itertools
import os
import re
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

from django.conf import settings

from deploys import logformat, sandbox
from herokucd.git import git_env, quiet_home
from herokucd.lines import LineDecoder

KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL
TICK = 0.2  # how often a running command checks its deadlines and the cancel flag


class CommandFailed(Exception):
    """A command ended badly; str() says how, in words fit for the deploy's reason."""

    def __init__(self, message, exit_status=None):
        super().__init__(message)
        self.exit_status = exit_status


class CommandTimeout(CommandFailed):
    pass


class NotFastForward(CommandFailed):
    """Heroku's branch has commits the pushed one is not built on (git's non-fast-forward)."""


class CommandCanceled(Exception):
    pass


def run(args, *, cwd, env, writer, timeout, idle_timeout=None, cancel_event=None, name=None):
    """Run `args`, stream its output to `writer`, return its exit status.

    Raises CommandTimeout after `timeout` seconds, or after `idle_timeout` seconds without
    output, and CommandCanceled soon after `cancel_event` is set; the process group is killed.
    """
    process = subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    watch = _Watch(process, timeout, idle_timeout, cancel_event, name or args[0])
    try:
        _stream(process, writer, watch)
        return process.wait()
    finally:
        if process.poll() is None:
            kill_group(process)
        process.stdout.close()
        process.stderr.close()


class _Watch:
    """The deadlines and the cancel flag of one running command."""

    def __init__(self, process, timeout, idle_timeout, cancel_event, name):
        self.process = process
        self.started = self.last_output = time.monotonic()
        self.timeout = timeout
        self.idle_timeout = idle_timeout
        self.cancel_event = cancel_event
        self.name = name

    def output(self):
        self.last_output = time.monotonic()

    def check(self):
        now = time.monotonic()
        if self.cancel_event is not None and self.cancel_event.is_set():
            kill_group(self.process)
            raise CommandCanceled(f"{self.name} was stopped: the deploy was canceled.")
        if self.timeout and now - self.started > self.timeout:
            kill_group(self.process)
            raise CommandTimeout(f"{self.name} did not finish within {self.timeout:g}s.")
        if self.idle_timeout and now - self.last_output > self.idle_timeout:
            kill_group(self.process)
            message = f"{self.name} printed nothing for {self.idle_timeout:g}s."
            raise CommandTimeout(message)


def _stream(process, writer, watch):
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, _Lines(writer, logformat.STDOUT))
        selector.register(process.stderr, selectors.EVENT_READ, _Lines(writer, logformat.STDERR))
        while selector.get_map():
            for key, _ in selector.select(TICK):
                data = os.read(key.fd, 65536)
                if data:
                    watch.output()
                    key.data.feed(data)
                else:
                    key.data.close()
                    selector.unregister(key.fileobj)
            watch.check()
    while True:  # output closed; the process may take a moment to exit
        try:
            process.wait(TICK)  # returns as soon as it exits, not on a polling tick
            return
        except subprocess.TimeoutExpired:
            watch.check()


class _Lines:
    """A stream's bytes to the writer, as whole lines."""

    def __init__(self, writer, stream):
        self.writer = writer
        self.stream = stream
        self.decoder = LineDecoder()

    def feed(self, data: bytes):
        self._write(self.decoder.feed(data))

    def close(self):
        self._write(self.decoder.close())

    def _write(self, lines):
        if lines:
            self.writer.lines(lines, self.stream)


def kill_group(process):
    """SIGTERM the process group, SIGKILL it if it is still there after a grace period."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(KILL_GRACE)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


# -- git ------------------------------------------------------------------------------------


def heroku_userinfo(api_key) -> str:
    """The key as git's credential for Heroku's git host. Sent up front, as Heroku's git accepts
    it, a push saves the round trip of the 401 that would make git ask for credentials."""
    return f"heroku:{quote(api_key, safe='')}" if api_key else ""


def git_push(checkout, url, sha, ref, *, api_key, writer, force=False, **limits):
    """Push `sha` to `ref` of the Heroku git remote at `url`; raise CommandFailed with
    Heroku's own words when it refuses."""
    args = ["git", "push", "--progress", url, f"{sha}:refs/heads/{ref}"]
    if force:
        args.append("--force")
    with private_home() as home:
        capture = Capture(writer)
        env = git_env(home, url, heroku_userinfo(api_key))
        status = run(args, cwd=checkout, env=env, writer=capture, **limits)
    if status != 0:
        failure = NotFastForward if not_fast_forward(capture.seen) else CommandFailed
        raise failure(push_error(capture.seen), status)


def not_fast_forward(lines) -> bool:
    """git's ` ! [rejected] ... (non-fast-forward)` or `(fetch first)` line."""
    return any(
        "[rejected]" in line and ("(non-fast-forward)" in line or "(fetch first)" in line)
        for line in lines
    )


class Capture:
    """Passes lines to the writer and keeps the last ones, for the error message."""

    def __init__(self, writer):
        self.writer = writer
        self.seen: list[str] = []

    def lines(self, lines, stream=logformat.STDOUT):
        self.writer.lines(lines, stream)
        self.seen = (self.seen + list(lines))[-80:]


HTTP_ERROR = re.compile(r"The requested URL returned error: (\d{3})|\bHTTP (\d{3})\b")


def push_error(lines) -> str:
    """Why Heroku refused a push, in its own words (the `remote: !` lines, git's errors)."""
    refused = http_refusal(lines)
    if refused:
        return refused
    said = heroku_words(lines)
    if not said:
        return "git push to Heroku failed."
    return "Heroku rejected the push: " + " ".join(said[:4])


def heroku_words(lines) -> list[str]:
    """What Heroku said went wrong in a push's or a build's output: its `!` lines (and git's
    errors), each once, without the marks."""
    said = []
    for line in lines:
        text = line.removeprefix("remote:").strip()
        if text.startswith("!") or line.startswith(("error:", "fatal:")):
            text = text.lstrip("! ").strip()
            if text and text not in said and not text.startswith("[remote rejected]"):
                said.append(text)
    return said


def http_refusal(lines) -> str:
    """Heroku answered git with an HTTP error: its code and the text it sent with it, which
    git prints as the `remote:` lines just before its own error line."""
    for index, line in enumerate(lines):
        found = HTTP_ERROR.search(line) if line.startswith(("error:", "fatal:")) else None
        if found:
            code = found.group(1) or found.group(2)
            said = _remote_block(lines[:index])
            return f"Heroku rejected the push (HTTP {code})" + (f": {said}" if said else ".")
    return ""


def _remote_block(lines) -> str:
    block = list(itertools.takewhile(lambda line: line.startswith("remote:"), reversed(lines)))
    texts = [line.removeprefix("remote:").strip().lstrip("! ").strip() for line in block[::-1]]
    return " ".join(text for text in texts if text)


# -- custom commands --------------------------------------------------------------------------


@contextlib.contextmanager
def private_home(netrc: dict | None = None):
    """A temporary HOME only this run can read, deleted afterwards; with ~/.netrc (0600)
    holding `netrc` ({host: (login, password)}) when given."""
    home = Path(tempfile.mkdtemp(prefix="herokucd-home-"))
    try:
        if netrc:
            path = home / ".netrc"
            path.touch(mode=0o600)
            path.write_text(
                "".join(
                    f"machine {host}\n  login {login}\n  password {password}\n"
                    for host, (login, password) in netrc.items()
                )
            )
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


def heroku_env(home, api_key, sandboxed=False) -> dict:
    """The environment of a custom command: the key, the official CLI, our Heroku endpoints;
    nothing of the worker's own environment. `sandboxed`: the paths as the sandbox shows them."""
    env = git_env(sandbox.HOME if sandboxed else home)
    if sandboxed:
        env["PATH"] = sandbox.path()
    else:
        env["PATH"] = f"{Path(settings.HEROKU_CLI).parent}{os.pathsep}{env['PATH']}"
    env.update(
        HEROKU_API_KEY=api_key,
        HEROKU_SKIP_NEW_VERSION_CHECK="true",
        HEROKU_DISABLE_AUTOUPDATE="1",
    )
    if _host(settings.HEROKU_API_URL) != "api.heroku.com":
        env["HEROKU_HOST"] = settings.HEROKU_API_URL
    if _host(settings.HEROKU_DATA_API_URL) != "api.data.heroku.com":
        env["HEROKU_DATA_HOST"] = _host(settings.HEROKU_DATA_API_URL)
    if settings.HEROKU_RENDEZVOUS_CA:
        env["NODE_EXTRA_CA_CERTS"] = settings.HEROKU_RENDEZVOUS_CA
    return env


def netrc_entries(api_key, login="heroku") -> dict:
    hosts = {_host(settings.HEROKU_API_URL), _host(settings.HEROKU_GIT_URL)}
    return {host: (login, api_key) for host in sorted(hosts) if host}


def require_sandbox():
    """Raise CommandFailed, saying what to install, when commands cannot run sandboxed."""
    try:
        sandbox.require()
    except sandbox.Unavailable as error:
        raise CommandFailed(str(error)) from None


def run_commands(
    commands, checkout, *, api_key, writer, timeout, idle_timeout, cancel_event, variables=None
):
    """Run each command with bash in the checkout, in the sandbox unless the operator opted
    out; stop at the first that fails. `variables`: the deploy's documented variables."""
    sandboxed = sandbox.enabled()
    if sandboxed:
        require_sandbox()
    with private_home(netrc_entries(api_key)) as home:
        env = heroku_env(home, api_key, sandboxed) | (variables or {})
        for command in commands:
            writer.system(f"$ {command}")
            args = ["bash", "-c", command]
            if sandboxed:
                args = sandbox.wrap(args, checkout=checkout, home=home, env=env)
            status = run(
                args,
                cwd=checkout,
                env=env,
                writer=writer,
                cancel_event=cancel_event,
                name=f"`{command}`",
                timeout=timeout,
                idle_timeout=idle_timeout,
            )
            if status != 0:
                raise CommandFailed(f"`{command}` exited with status {status}.", status)


def git(*args, cwd=None, check=True, timeout=600) -> subprocess.CompletedProcess:
    """A quick local git command (no network credentials), output captured."""
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=git_env(quiet_home()),
        check=False,
    )
    if check and result.returncode != 0:
        raise CommandFailed(result.stderr.strip() or f"git {args[0]} failed", result.returncode)
    return result


__all__ = [
    "CommandCanceled",
    "CommandFailed",
    "CommandTimeout",
    "NotFastForward",
    "git",
    "git_push",
    "kill_group",
    "private_home",
    "require_sandbox",
    "run",
    "run_commands",
]
