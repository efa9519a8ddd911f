"""An environment's own globs for files that look like migrations, in its deploy options."""

import pytest

from deploys import outgoing
from projects.models import Environment
from tests.projects.test_settings import form_data, options_url
from tests.projects.test_wizard_fixtures import *  # noqa: F403
from tests.projects.test_wizard_fixtures import page

pytestmark = pytest.mark.django_db


def test_an_admin_sets_the_migration_globs(admin, with_key, project, sim):
    staging = Environment.objects.create(
        project=project, name="staging", branch="main", app_name="foo-bar-123"
    )
    assert "Files that look like migrations" in page(admin.get(options_url(staging)))
    admin.post(options_url(staging), form_data(staging, migration_globs="sql/*.sql\r\ndb/*.rb"))
    staging.refresh_from_db()
    assert outgoing.globs_of(staging) == ["sql/*.sql", "db/*.rb"]
    admin.post(options_url(staging), form_data(staging, migration_globs=""))
    staging.refresh_from_db()
    assert outgoing.globs_of(staging) == outgoing.DEFAULT_MIGRATION_GLOBS
