"""Fixtures of the deploy engine tests: a project that deploys to the simulator's app."""

import django_rq
import pytest

from projects.models import Environment
from tests.cache_servers import (  # noqa: F401 (fixtures)
    cram_md5_memcached,
    memcached,
    sasl_memcached,
    tls_redis,
)
from tests.conftest import store_heroku_key
from tests.heroku_sim.fixtures import APP


def sim_env(sim, **extra) -> dict:
    """Settings (and environment variables of worker processes) that point at the simulator."""
    return {
        "HEROKU_API_URL": sim.api_url,
        "HEROKU_GIT_URL": sim.git_url,
        "HEROKU_DATA_API_URL": sim.api_url,
        "HEROKU_RENDEZVOUS_CA": sim.ca_path,
        **extra,
    }


@pytest.fixture
def sim(heroku_sim, settings):
    for name, value in sim_env(heroku_sim).items():
        setattr(settings, name, value)
    settings.DEPLOY_BACKUP_POLL_SECONDS = 0.1
    return heroku_sim


@pytest.fixture
def credential(project, sim, alice):
    return store_heroku_key(project, sim.api_key, alice)


@pytest.fixture
def redis_up(settings):
    """The embedded Redis stops after 10 s without clients: make sure it runs for this test."""
    if settings.EMBEDDED_REDIS:
        from herokucd.embedded_redis import ensure_running

        ensure_running(settings.DATA_DIR)


@pytest.fixture
def environment(project, credential, redis_up):
    return Environment.objects.create(
        project=project, name="production", branch="main", app_name=APP
    )


@pytest.fixture
def queue():
    """The RQ queue, emptied before and after the test."""
    queue = django_rq.get_queue("default")
    queue.empty()
    yield queue
    queue.empty()
