"""The Promote confirmation lists what is going out: the commits between what production runs
and the staging release it would get, with migration files flagged."""

import pytest

from deploys.models import State
from tests.deploys.test_pipeline import deploy_now
from tests.deploys.test_promotion import (  # noqa: F401 (fixtures)
    pipeline_sim,
    production,
    sim,
    staging,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_promote_page_lists_the_commits_production_lacks(
    staging,  # noqa: F811 (fixtures)
    production,  # noqa: F811
    git_repo,
    client_for,
    alice,
    sim,  # noqa: F811
):
    on_production = deploy_now(production, user=alice)
    assert on_production.state == State.SUCCEEDED, on_production.reason
    git_repo.commit("db/migrate/20260101_add_price.rb", "class AddPrice; end\n", "Add prices")
    git_repo.commit("app/price.rb", "price = 1\n", "Show prices")
    on_staging = deploy_now(staging, user=alice)
    assert on_staging.state == State.SUCCEEDED, on_staging.reason

    page = client_for(alice).get(f"{on_staging.get_absolute_url()}promote/").content.decode()
    assert "What is going out" in page and "2 commits, 0 merges" in page
    assert "Add prices" in page and "Show prices" in page
    assert "db/migrate/20260101_add_price.rb" in page
