import pytest

from herokucd.heroku import HerokuClient


@pytest.fixture
def sim(heroku_sim, settings):
    """The simulator, with settings pointing the client at it (data API on the same host)."""
    heroku_sim.reset()
    settings.HEROKU_API_URL = heroku_sim.api_url
    settings.HEROKU_DATA_API_URL = heroku_sim.api_url
    settings.HEROKU_GIT_URL = heroku_sim.git_url
    settings.HEROKU_RENDEZVOUS_CA = heroku_sim.ca_path
    return heroku_sim


@pytest.fixture
def heroku(sim):
    # Tiny backoff keeps retry tests fast; retries stay at the production default.
    with HerokuClient(sim.api_key, timeout=(2, 5), backoff=0.01) as heroku:
        yield heroku


@pytest.fixture
def app_name():
    return "foo-bar-123"
