"""Heroku's slug compiler as the simulator plays it, one rule set for both ways code arrives:
a git push (the repositories' pre-receive hook) and a Build API build (builds.py).

Rule: a source with a file named FAIL_MARKER at its top fails to compile; any other compiles.
Both paths print the same build lines and end the same way.
"""

import time

FAIL_MARKER = ".heroku-sim-fail-build"
FAILED = [" !     Push rejected, failed to compile Python app.", "", " !     Push failed"]


def compile_source(say, has_file, pause=lambda: time.sleep(0.05)) -> bool:
    """Say the build's lines through `say`; True when the source compiled. `has_file(name)`
    answers whether the source has that file at its top; `pause` is the compile's own time."""
    say("-----> Building on the Heroku-24 stack")
    say("-----> Using buildpack: heroku/python")
    say("-----> Python app detected")
    pause()
    if has_file(FAIL_MARKER):
        for line in FAILED:
            say(line)
        return False
    say("-----> Discovering process types")
    say("-----> Compressing...")
    say("       Done: 12.3M")
    say("-----> Launching...")
    return True


def say_released(say, version, web_url):
    say(f"       Released v{version}")
    say(f"       {web_url} deployed to Heroku")
