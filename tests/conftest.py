"""Shared fixtures: alice owns a project, bob is a member of it, charlie is an outsider.

Plugins add the Heroku simulator (tests/heroku_sim/fixtures.py) and process helpers.
"""

import contextlib
import os
import shutil

import hypothesis
import pytest

from projects.models import Membership, Project, Role

pytest_plugins = ["tests.heroku_sim.fixtures", "tests.processes", "tests.asgi_server"]

PASSWORD = "correct horse battery staple"

# In CI the generated inputs are the same on every run, so a red build is reproducible and never
# down to the luck of the draw; elsewhere each run explores new inputs.
hypothesis.settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")


def pytest_sessionfinish(session):
    """Stop this run's embedded Redis and remove its private data folder."""
    from django.conf import settings

    from herokucd.settings_test import RUN_DIR

    if settings.DATA_DIR != RUN_DIR:
        return
    if settings.EMBEDDED_REDIS:
        import redis

        # Shutting down closes the connection it was asked on; gone already is fine too.
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis.from_url(settings.REDIS_URL).shutdown(nosave=True)
    shutil.rmtree(RUN_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def _forget_kept_page_parts():
    """Rolled-back tests reuse primary keys: no test may see another's kept pages, layouts or
    shared live log answers."""
    from django.core.cache import caches

    caches["pages"].clear()
    caches["log-answers"].clear()


@pytest.fixture
def make_user(django_user_model):
    def make(username, **extra):
        return django_user_model.objects.create_user(
            username, f"{username}@example.com", PASSWORD, **extra
        )

    return make


def allow_project_creation(user):
    """Give `user` the "Can add project" permission an administrator grants in the admin."""
    from django.contrib.auth.models import Permission

    user.user_permissions.add(Permission.objects.get(codename="add_project"))
    return user


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def charlie(make_user):
    return make_user("charlie")


@pytest.fixture
def git_repo(tmp_path):
    """A real git repository with one commit on main."""
    from tests.gitrepo import GitRepo

    return GitRepo.create(tmp_path / "repo")


@pytest.fixture
def project(alice, git_repo):
    project = Project.objects.create(
        name="Foo Bar", slug="foo-bar", repository_url=str(git_repo.path), created_by=alice
    )
    Membership.objects.create(project=project, user=alice, role=Role.ADMIN)
    return project


def store_heroku_key(project, api_key, user, email="deployer@example.com"):
    """Step 1 of the setup done: `project` deploys with `api_key` (checked and stored)."""
    from django.utils import timezone

    from herokucd.crypto import keyed_hash
    from projects.models import HerokuCredential

    return HerokuCredential.objects.create(
        project=project,
        api_key=api_key,
        key_hash=keyed_hash(api_key),
        account_email=email,
        account_id="account-1",
        validated_at=timezone.now(),
        set_by=user,
    )


@pytest.fixture
def bob_as(project, bob):
    """Make bob a member of alice's project with the given role."""

    def as_role(role):
        Membership.objects.update_or_create(project=project, user=bob, defaults={"role": role})
        return bob

    return as_role


@pytest.fixture
def client_for(client):
    """A test client signed in as the given user."""

    def signed_in(user):
        client.force_login(user, backend="projects.backends.ModelBackend")
        return client

    return signed_in
