"""Fixtures shared by the wizard, settings and canary tests (imported by those modules)."""

import pytest

from projects.models import Role
from tests.conftest import store_heroku_key

SETUP = "/projects/foo-bar/heroku/setup/"
SETTINGS = "/projects/foo-bar/settings/"


@pytest.fixture
def sim(heroku_sim, settings):
    """The Heroku simulator, with herokucd's settings pointing at it."""
    settings.HEROKU_API_URL = heroku_sim.api_url
    settings.HEROKU_DATA_API_URL = heroku_sim.api_url
    settings.HEROKU_GIT_URL = heroku_sim.git_url
    settings.HEROKU_RENDEZVOUS_CA = heroku_sim.ca_path
    return heroku_sim


@pytest.fixture
def admin(client_for, alice, project):
    return client_for(alice)


@pytest.fixture
def with_key(project, sim, alice):
    """Step 1 done with the simulator's deployer key."""
    return store_heroku_key(project, sim.api_key, alice)


@pytest.fixture
def viewer(bob_as, client_for):
    return client_for(bob_as(Role.VIEWER))


@pytest.fixture
def deployer(bob_as, client_for):
    return client_for(bob_as(Role.DEPLOYER))


@pytest.fixture
def outsider(client_for, charlie, project):
    return client_for(charlie)


def page(response) -> str:
    return response.content.decode()


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []
