"""Read-only questions to git repositories (the deploy engine's git work lives in deploys/)."""

import os
import subprocess

LS_REMOTE_TIMEOUT = 20


class GitError(Exception):
    """git could not answer; the message is git's own last words."""


def git_env() -> dict:
    """An environment in which git never waits for a person at a prompt."""
    return {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "SSH_ASKPASS": "/bin/false",
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o ConnectTimeout=10",
    }


def ls_remote_heads(url: str) -> list[str]:
    """The branch names of the repository at `url` (a git URL or a local path)."""
    command = ["git", "-c", "protocol.ext.allow=never", "ls-remote", "--heads", "--", url]
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=LS_REMOTE_TIMEOUT,
            env=git_env(),
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise GitError(f"no answer within {LS_REMOTE_TIMEOUT} seconds") from None
    if result.returncode != 0:
        raise GitError(_first_words(result.stderr) or f"git exited with {result.returncode}")
    return [line.split("refs/heads/", 1)[1] for line in result.stdout.splitlines() if line]


def _first_words(stderr: str) -> str:
    """git's first fatal line says what went wrong; the lines after it are generic advice."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    reason = (fatal or lines or [""])[0]
    return reason.removeprefix("fatal: ").removeprefix("error: ")
