"""Rows the benchmarks need, made the way the app makes them (models, services)."""

import itertools

from django.contrib.auth import get_user_model
from django.utils import timezone

from deploys.models import Deploy, State
from projects.models import Environment, Membership, Project, Role

PASSWORD = "bench password, not a secret"  # noqa: S105
_numbers = itertools.count(1)


def user(username="alice"):
    model = get_user_model()
    found = model.objects.filter(username=username).first()
    return found or model.objects.create_user(username, f"{username}@example.com", PASSWORD)


def project(owner, slug="bench", repository_url="/nonexistent"):
    found = Project.objects.filter(slug=slug).first()
    if found:
        return found
    made = Project.objects.create(
        name=slug.title(), slug=slug, repository_url=repository_url, created_by=owner
    )
    Membership.objects.create(project=made, user=owner, role=Role.ADMIN)
    return made


def environment(project, name="production", app_name="foo-bar-123", **options):
    return Environment.objects.create(
        project=project, name=name, branch="main", app_name=app_name, **options
    )


def running_deploy(environment) -> Deploy:
    """A deploy in state running, numbered after the project's last one, with no steps yet."""
    number = (Deploy.objects.filter(project=environment.project).count() or 0) + next(_numbers)
    return Deploy.objects.create(
        project=environment.project,
        number=number,
        environment=environment,
        environment_name=environment.name,
        app_name=f"{environment.app_name}-{number}",  # one running deploy per app
        branch="main",
        sha="a" * 40,
        state=State.RUNNING,
        started_at=timezone.now(),
    )
