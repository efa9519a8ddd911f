"""Whether an environment's branch (names, or a /regex/) names branches its repository has.

A warning, never a refusal: a branch may come after its environment, and a repository herokucd
cannot read now may be readable at the first deploy. The branches are read with
`git ls-remote --heads` through herokucd/git.py, after the repository URL is checked again,
with the project's credential given to git through its environment.
"""

from dataclasses import dataclass

from herokucd import git
from projects import branches as branch_values

SHOWN = 10  # branch names a warning lists


@dataclass
class Branches:
    """The repository's branch names, or why they could not be read (`names` is None)."""

    names: list[str] | None
    problem: str = ""


def read(project) -> Branches:
    url, userinfo = project.repository_url, project.repository_userinfo
    try:
        git.check_repository_url(url)
        return Branches(sorted(git.ls_remote_heads(url, userinfo)))
    except (git.RepositoryRefused, git.GitError) as error:
        return Branches(None, str(error).rstrip("."))


def warnings(value: str, branches: Branches) -> list[str]:
    """A sentence for each branch name or pattern of `value` that no branch matches."""
    if branches.names is None:
        return [
            f"Could not read the repository to check the branch: {branches.problem}. The "
            "environment is saved; check the project's repository URL and that herokucd can "
            "reach it."
        ]
    has = _has(branches.names)
    found = []
    for pattern in branch_values.patterns(value):
        if any(branch_values.matches(pattern, name) for name in branches.names):
            continue
        if branch_values.is_regex(pattern):
            found.append(
                f"Pattern {pattern} matches no branch of the repository ({has}): deploys from "
                "webhooks will not match it until such a branch exists."
            )
        else:
            found.append(
                f"Branch {pattern} is not in the repository ({has}): deploys from webhooks will "
                "never match it. Fix the name in the environment's deploy options if it is a typo."
            )
    return found


def check(project, value: str) -> list[str]:
    return warnings(value, read(project))


def _has(names: list[str]) -> str:
    if not names:
        return "it has no branches yet"
    shown = ", ".join(names[:SHOWN])
    more = len(names) - SHOWN
    return f"it has {shown}" + (f" and {more} more" if more > 0 else "")
