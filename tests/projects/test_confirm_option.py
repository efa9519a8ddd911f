"""The option "Manual deploys ask for confirmation": on by default for environments named like
production (wizard, circle.yml import, and the environments there were before the option),
off for others, and settable in the deploy options."""

import importlib

import pytest
from django.apps import apps

from projects.models import Environment
from projects.setup_forms import production_like
from tests.projects.test_settings import form_data, options_url, staging  # noqa: F401
from tests.projects.test_wizard_fixtures import *  # noqa: F403
from tests.projects.test_wizard_fixtures import SETTINGS, SETUP, messages_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["production", "Production", "prod", "prod-eu", "us_live", "prd"])
def test_names_like_production_ask_first(name):
    assert production_like(name)


@pytest.mark.parametrize("name", ["staging", "products", "preprod", "delivery", "review"])
def test_other_names_do_not(name):
    assert not production_like(name)


def test_the_wizard_turns_it_on_for_production_only_and_says_so(admin, with_key):
    said = {}
    for name in ("staging", "production"):
        data = {"name": name, "branch": "main", "app_name": "foo-bar-123"}
        said[name] = " ".join(messages_of(admin.post(f"{SETUP}3/", data, follow=True)))
    asks = dict(Environment.objects.values_list("name", "confirm_manual_deploys"))
    assert asks == {"staging": False, "production": True}
    assert "Manual deploys to production ask for confirmation first" in said["production"]
    assert "ask for confirmation" not in said["staging"]


def test_the_import_turns_it_on_for_production(admin, with_key):
    text = "deployment:\n  prod:\n    branch: main\n    heroku:\n      appname: foo-bar-123\n"
    admin.post(f"{SETTINGS}import/", {"circle_yml": text, "confirm": "1"})
    assert Environment.objects.get(name="prod").confirm_manual_deploys


def test_the_deploy_options_set_it(admin, staging):  # noqa: F811
    admin.post(options_url(staging), form_data(staging, confirm_manual_deploys="on"))
    staging.refresh_from_db()
    assert staging.confirm_manual_deploys
    admin.post(options_url(staging), form_data(staging))
    staging.refresh_from_db()
    assert not staging.confirm_manual_deploys


def test_the_options_page_shows_it_with_its_label(admin, staging):  # noqa: F811
    body = admin.get(options_url(staging)).content.decode()
    assert ">Manual deploys ask for confirmation</label>" in body


def test_environments_named_like_production_before_the_option_ask_first(project):
    Environment.objects.create(project=project, name="live", branch="main", app_name="a-live")
    Environment.objects.create(project=project, name="qa", branch="main", app_name="a-qa")
    migration = importlib.import_module(
        "projects.migrations.0008_environment_confirm_manual_deploys"
    )
    migration.confirm_production_deploys(apps, None)
    asks = dict(Environment.objects.values_list("name", "confirm_manual_deploys"))
    assert asks == {"live": True, "qa": False}
