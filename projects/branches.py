"""Branch names, and the branch value of an environment: names separated by commas (or lines),
or one /regex/ matched whole. The one definition the forms, the Deploy button, the API, the
webhooks, the branch check and the mirror's reads all use.

Patterns run on RE2, whose matching time is linear in the branch name's length (Python's `re`
backtracks: `(a+)+b` on a long name took seconds on every push).
"""

import functools
import re

import re2
from django import forms

# What git accepts as a branch name (git check-ref-format), simplified: no spaces or control
# characters, none of ~ ^ : ? * [ \, no "..", "//" or "@{", not starting with "-" or "/", not
# ending with "/", "." or ".lock".
NAME = re.compile(
    r"(?!-)(?!/)(?!.*(?:\.\.|//|@\{))[^\s~^:?*\[\\\x00-\x1f\x7f]+(?<![/.])(?<!\.lock)"
)


def is_name(value: str) -> bool:
    return bool(NAME.fullmatch(value))


def is_regex(value: str) -> bool:
    """Whether `value` is a /regex/: something between two slashes."""
    return value.startswith("/") and value.endswith("/") and len(value) > 2


def patterns(value: str) -> list[str]:
    """The names of a branch value, or its /regex/ whole."""
    value = value.strip()
    if is_regex(value):
        return [value]
    return [name.strip() for name in value.replace("\n", ",").split(",") if name.strip()]


def names(value: str) -> list[str]:
    """The branch names `value` gives; none for a /regex/."""
    return [] if is_regex(value.strip()) else patterns(value)


def matches(value: str, branch: str) -> bool:
    """Whether `branch` is one of the names of `value`, or its /regex/ matches it whole."""
    for pattern in patterns(value):
        if is_regex(pattern):
            compiled = regex(pattern[1:-1])
            if compiled is not None and compiled.fullmatch(branch):
                return True
        elif pattern == branch:
            return True
    return False


def clean_branch(value: str) -> str:
    """A form's branch value: a /regex/ RE2 runs, or valid names (joined by ", ")."""
    value = value.strip()
    if is_regex(value):
        error = regex_error(value[1:-1])
        if error is not None:
            raise forms.ValidationError(
                f"This /regex/ does not compile ({error}): fix it or give branch names. "
                "Backreferences and lookaround are not supported (patterns are matched in "
                "linear time)."
            )
        return value
    names = patterns(value)
    if not names:
        raise forms.ValidationError("Give a branch name, several names or a /regex/.")
    bad = [name for name in names if not is_name(name)]
    if bad:
        raise forms.ValidationError(
            f"“{bad[0]}” is not a valid git branch name (no spaces, ~ ^ : ? * [ \\ or ..)."
        )
    return ", ".join(names)


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str):
    options = re2.Options()
    options.log_errors = False  # a refused pattern is the user's to fix, not a server error
    return re2.compile(pattern, options)


def regex(pattern: str):
    """`pattern` compiled by RE2; None when RE2 cannot compile it (backreferences,
    lookaround)."""
    try:
        return _compiled(pattern)
    except re2.error:
        return None


def regex_error(pattern: str) -> str | None:
    """Why RE2 refuses `pattern`, or None when it compiles."""
    try:
        _compiled(pattern)
    except re2.error as error:
        reason = error.args[0] if error.args else "invalid"
        return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
    return None
