"""pre-receive hook of every simulated app repository: Heroku's build, as `remote:` lines.

git runs it with the pushed refs on stdin; whatever it prints reaches the pusher as
`remote: ...`; a non-zero exit makes git report `pre-receive hook declined`.
"""

import json
import os
import subprocess
import sys
import urllib.request

from heroku_simulator.compiler import compile_source, say_released

ZERO = "0" * 40
DEPLOY_REFS = ("refs/heads/main", "refs/heads/master")


def say(line=""):
    print(line, flush=True)


def report(push):
    # The simulator's own control URL, given to its hook by the simulator (never a user's).
    request = urllib.request.Request(  # noqa: S310
        os.environ["HEROKU_SIM_CONTROL"] + "/__sim__/internal/push",
        data=json.dumps(push).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.load(response)


def has_file(sha, name):
    probe = subprocess.run(["git", "cat-file", "-e", f"{sha}:{name}"], capture_output=True)
    return probe.returncode == 0


def procfile(sha):
    """The commit's Procfile: only this hook sees the pushed objects before the push ends."""
    shown = subprocess.run(["git", "show", f"{sha}:Procfile"], capture_output=True)
    return shown.stdout.decode(errors="replace") if shown.returncode == 0 else None


def push_record(sha, ref, result):
    return {
        "app": os.environ["HEROKU_SIM_APP"],
        "account": os.environ["HEROKU_SIM_ACCOUNT"],
        "sha": sha,
        "ref": ref,
        "result": result,
        "procfile": procfile(sha) if result == "released" else None,
    }


def reject(sha, ref, lines, reason):
    for line in lines:
        say(line)
    say("")
    say(f"!       Push rejected to {os.environ['HEROKU_SIM_APP']}.")
    say("")
    report(push_record(sha, ref, f"rejected: {reason}"))
    sys.exit(1)


def build(sha, ref):
    say("Compressing source files... done.")
    say("Building source:")
    say("")
    if not compile_source(say, lambda name: has_file(sha, name)):
        reject(sha, ref, [], "build failed")
    release = report(push_record(sha, ref, "released"))
    say_released(say, release["version"], release["web_url"])
    say("")
    say("Verifying deploy... done.")


def main():
    updates = [line.split() for line in sys.stdin if line.strip()]
    for old, new, ref in updates:
        if new == ZERO:
            reject(old, ref, [f" !     Deleting {ref} is not allowed."], "delete")
        if ref not in DEPLOY_REFS:
            reject(
                new,
                ref,
                [
                    f" !     Pushed to {ref}: only pushes to main or master deploy.",
                    " !     Deploy with: git push heroku HEAD:main",
                ],
                "not main",
            )
    for _old, new, ref in updates:
        build(new, ref)


if __name__ == "__main__":
    main()
