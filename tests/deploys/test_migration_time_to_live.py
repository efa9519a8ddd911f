"""The migration's one-off dyno carries a time_to_live a minute above the migration timeout, so
Heroku ends it even when the worker that watches it is gone (README: What a deploy promises
about Heroku)."""

import pytest

from deploys.models import State
from tests.deploys.test_pipeline import configure, deploy_now

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("timeout", "time_to_live"),
    [(120, 180), (86350, 86400)],  # Heroku's cap is one day (docs/heroku.md §2.6)
)
def test_the_migration_dyno_expires_a_minute_after_the_migration_timeout(
    environment, sim, timeout, time_to_live
):
    configure(environment, migration_command="echo migrated", migration_timeout=timeout)
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    runs = [run for run in sim.app_state()["dynos"] if run["command"].startswith("echo migrated")]
    assert [run["time_to_live"] for run in runs] == [time_to_live]
