"""What a project still lacks before it can deploy, and the Heroku client its setup uses.

Other pages (the project page, the deploy button) call `missing_steps(project)` to say what is
missing and link to the wizard step that fixes it.
"""

from django.urls import reverse

from herokucd.heroku import HerokuClient
from projects import branches
from projects.models import DeployKey, Environment, HerokuCredential

STEPS = {
    1: "Save a Heroku API key",
    2: "Set the Heroku deploy user",
    3: "Name the Heroku app for an environment",
}


def step_url(project, step: int) -> str:
    if step == 1:
        return reverse("heroku_setup", args=[project.slug])
    return reverse("heroku_setup_step", args=[project.slug, step])


def done_steps(project) -> set[int]:
    done = set()
    if HerokuCredential.objects.filter(project=project).exists():
        done.add(1)
    if DeployKey.objects.filter(project=project, deploy_user__isnull=False).exists():
        done.add(2)
    if Environment.objects.filter(project=project).exists():
        done.add(3)
    return done


def missing_steps(project) -> list[dict]:
    """[{step, label, url}] for each setup step not done yet, in order; [] when complete."""
    done = done_steps(project)
    return [
        {"step": step, "label": label, "url": step_url(project, step)}
        for step, label in STEPS.items()
        if step not in done
    ]


def client_for(project) -> HerokuClient:
    """A client with the project's stored key; one retry keeps a page from hanging on Heroku."""
    return client_with_key(project.heroku_credential.api_key)


def client_with_key(api_key: str) -> HerokuClient:
    return HerokuClient(api_key, retries=1, backoff=0.2, timeout=(5.0, 20.0))


# Branch names tried when looking for a branch two environments would both match.
COMMON_BRANCHES = ("main", "master", "develop", "development", "staging", "production", "release")


def branch_overlaps(project) -> list[str]:
    """Sentences naming a branch that two environments both match, and which one wins."""
    environments = list(project.environments.all())
    found = []
    for i, first in enumerate(environments):
        for second in environments[i + 1 :]:
            branch = _shared_branch(project, first, second)
            if branch is not None:
                found.append(
                    f"Branch “{branch}” matches both {first.name} and {second.name}; "
                    f"{first.name} wins because it comes first."
                )
    return found


def _shared_branch(project, first, second):
    if set(first.branch_patterns()) & set(second.branch_patterns()):
        return sorted(set(first.branch_patterns()) & set(second.branch_patterns()))[0]
    candidates = [*_names(first), *_names(second), project.default_branch, *COMMON_BRANCHES]
    return next((b for b in candidates if first.matches(b) and second.matches(b)), None)


def _names(environment):
    return branches.names(environment.branch)
