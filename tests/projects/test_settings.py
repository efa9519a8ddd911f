"""The settings page: read-only for members, deploy options validated and audited for admins."""

import pytest

from projects.models import AuditEvent, Environment
from tests.projects.test_wizard_fixtures import *  # noqa: F403
from tests.projects.test_wizard_fixtures import SETTINGS, page

pytestmark = pytest.mark.django_db


@pytest.fixture
def staging(project, with_key):
    # Saving an environment checks its app with the project's key: one is always stored here.
    return Environment.objects.create(
        project=project, name="staging", branch="main", app_name="foo-bar-123"
    )


def options_url(environment):
    return f"{SETTINGS}environments/{environment.pk}/"


def form_data(environment, **changes):
    """The options form as the page submits it, with `changes` applied."""
    data = {
        "name": environment.name,
        "branch": environment.branch,
        "app_name": environment.app_name,
        "auto_deploy": "on",
        "heroku_branch": "main",
        "maintenance_mode": "off",
        "when_commit_on_heroku": "fail",
        "migration_preset": "none",
        "migration_timeout": 400,
        "pre_deploy_timeout": 600,
        "post_deploy_timeout": 600,
        "health_check_status": 200,
        "health_check_retries": 0,
        "health_check_delay": 5,
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_it_lists_environments_the_masked_key_and_the_audit_trail(admin, with_key, staging, sim):
    admin.post(options_url(staging), form_data(staging, force_push="on"))
    body = page(admin.get(SETTINGS))
    assert "••••••••" + sim.api_key[-4:] in body
    assert sim.api_key not in body
    assert "foo-bar-123" in body
    assert "Audit trail" in body
    assert "Changed an environment: Environment: staging; Force push: Off → On" in body


def test_a_viewer_sees_the_settings_read_only_with_the_key_masked(viewer, with_key, staging, sim):
    body = page(viewer.get(SETTINGS))
    assert "Read only" in body
    assert "••••••••" + sim.api_key[-4:] in body and sim.api_key not in body
    assert "Import circle.yml" not in body
    options = page(viewer.get(options_url(staging)))
    assert "Save deploy options" not in options
    assert 'name="app_name" value="foo-bar-123"' in options and "disabled" in options


def test_it_says_which_setup_steps_are_missing(admin, project):
    body = page(admin.get(SETTINGS))
    assert "Setup is not finished" in body
    assert "Step 1: Save a Heroku API key" in body


def test_it_saves_every_deploy_option(admin, with_key, staging):
    data = form_data(
        staging,
        auto_deploy=None,
        heroku_branch="master",
        force_push="on",
        maintenance_mode="migrations",
        keep_maintenance_after_failed_migration="on",
        scale_down_types="worker, clock",
        migration_preset="django",
        migration_timeout=900,
        backup_before_migrate="on",
        cache_flush="redis",
        cache_config_vars="REDIS_URL",
        pre_deploy_commands="echo one\n\n echo two ",
        pre_deploy_timeout=60,
        post_deploy_commands="echo done",
        post_deploy_timeout=30,
        secret_config_vars="SECRET_KEY",
        health_check_url="https://example.com/health",
        health_check_status=204,
        health_check_text="ok",
        health_check_retries=3,
        health_check_delay=10,
        auto_rollback="on",
    )
    response = admin.post(options_url(staging), data, follow=True)
    assert "Saved the deploy options of staging." in page(response)
    e = Environment.objects.get(pk=staging.pk)
    assert (e.auto_deploy, e.heroku_branch, e.force_push) == (False, "master", True)
    assert e.maintenance_mode == "migrations" and e.keep_maintenance_after_failed_migration
    assert e.scale_down_types == "worker, clock"
    assert (e.migration_command, e.migration_timeout) == ("python manage.py migrate", 900)
    assert e.backup_before_migrate
    assert (e.cache_flush, e.cache_config_vars) == ("redis", "REDIS_URL")
    assert (e.pre_deploy_commands, e.pre_deploy_timeout) == ("echo one\necho two", 60)
    assert (e.post_deploy_commands, e.post_deploy_timeout) == ("echo done", 30)
    assert e.secret_config_vars == "SECRET_KEY"
    assert (e.health_check_url, e.health_check_status, e.health_check_text) == (
        "https://example.com/health",
        204,
        "ok",
    )
    assert (e.health_check_retries, e.health_check_delay, e.auto_rollback) == (3, 10, True)


@pytest.mark.parametrize(
    ("preset", "command"),
    [("rails", "rake db:migrate"), ("node", "db-migrate up"), ("none", "")],
)
def test_migration_presets_fill_the_command(admin, with_key, staging, preset, command):
    admin.post(options_url(staging), form_data(staging, migration_preset=preset))
    assert Environment.objects.get().migration_command == command


def test_a_custom_migration_command_is_kept(admin, with_key, staging):
    data = form_data(staging, migration_preset="custom", migration_command="bin/migrate --all")
    admin.post(options_url(staging), data)
    assert Environment.objects.get().migration_command == "bin/migrate --all"
    assert 'value="custom" selected' in page(admin.get(options_url(staging)))


@pytest.mark.parametrize(
    ("kind", "config_vars"),
    [("memcachier", "MEMCACHIER_SERVERS"), ("memcachedcloud", "MEMCACHEDCLOUD_SERVERS")],
)
def test_choosing_a_sasl_cache_add_on_picks_its_config_vars(
    admin, with_key, staging, kind, config_vars
):
    admin.post(options_url(staging), form_data(staging, cache_flush=kind, cache_config_vars=""))
    e = Environment.objects.get(pk=staging.pk)
    assert (e.cache_flush, e.cache_config_vars) == (kind, config_vars)
    body = page(admin.get(options_url(staging)))
    assert f'value="{config_vars}"' in body


def test_a_sasl_cache_add_on_attached_under_another_name_keeps_that_name(admin, with_key, staging):
    data = form_data(staging, cache_flush="memcachier", cache_config_vars="CACHE_SERVERS")
    admin.post(options_url(staging), data)
    assert Environment.objects.get(pk=staging.pk).cache_config_vars == "CACHE_SERVERS"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"migration_preset": "custom"}, "Type the migration command, or pick a preset."),
        (
            {"cache_flush": "memcachier", "cache_config_vars": "MEMCACHIER_PASSWORD"},
            "This add-on names its config vars NAME_SERVERS, NAME_USERNAME and NAME_PASSWORD",
        ),
        ({"migration_timeout": 0}, "Give a number of seconds from 1 to 86400"),
        ({"post_deploy_timeout": 90000}, "Give a number of seconds from 1 to 86400"),
        ({"backup_before_migrate": "on"}, "The backup runs before migrations"),
        ({"maintenance_mode": "migrations"}, "There are no migrations to wrap"),
        ({"cache_flush": "memcached"}, "Name the config var that holds the cache URL"),
        ({"cache_flush": "redis", "cache_config_vars": "REDIS URL"}, "is not a valid config var"),
        ({"scale_down_types": "work er"}, "is not a valid process type name"),
        ({"health_check_status": 42}, "An HTTP status is a number from 100 to 599"),
        ({"health_check_retries": 99}, "At most 20 retries."),
        ({"health_check_url": "not a url"}, "Enter a valid URL."),
        ({"app_name": "Foo"}, "The Heroku app name must not include upper-case characters."),
        (
            {"app_name": "not-yours-app"},
            "herokucd&#x27;s key for this project cannot reach app not-yours-app: ask its owner "
            "to add deployer@example.com as a collaborator.",
        ),
        ({"branch": "/(/"}, "This /regex/ does not compile"),
        ({"heroku_branch": "develop"}, "Select a valid choice."),
    ],
)
def test_every_option_is_validated_with_a_clear_message(admin, with_key, staging, changes, message):
    response = admin.post(options_url(staging), form_data(staging, **changes))
    assert response.status_code == 200
    assert message in page(response).replace("&quot;", '"')
    assert Environment.objects.get().migration_timeout == 400  # nothing half-saved
    assert not AuditEvent.objects.exists()


def test_the_maintenance_page_url_is_set_as_a_heroku_config_var(admin, with_key, staging, sim):
    url = "https://example.com/maintenance.html"
    admin.post(options_url(staging), form_data(staging, maintenance_page_url=url))
    config = sim.api("GET", "/apps/foo-bar-123/config-vars").json()
    assert config["MAINTENANCE_PAGE_URL"] == url
    admin.post(options_url(staging), form_data(staging, maintenance_page_url=""))
    assert "MAINTENANCE_PAGE_URL" not in sim.api("GET", "/apps/foo-bar-123/config-vars").json()


def test_a_heroku_error_setting_the_maintenance_page_saves_nothing(admin, with_key, staging, sim):
    sim.fault("PATCH /apps/{app}/config-vars", status=503)
    data = form_data(staging, maintenance_page_url="https://example.com/m", force_push="on")
    response = admin.post(options_url(staging), data)
    assert "Heroku did not set MAINTENANCE_PAGE_URL, nothing was saved" in page(response)
    assert not Environment.objects.get().force_push


def test_deleting_an_environment_asks_first_and_leaves_the_app(admin, with_key, staging):
    url = options_url(staging) + "delete/"
    assert "The app on Heroku is not changed." in page(admin.get(url))
    response = admin.post(url, follow=True)
    assert not Environment.objects.exists()
    assert "Deleted staging. The Heroku app foo-bar-123 is unchanged." in page(response)
    assert AuditEvent.objects.get().action == "environment.deleted"


def test_audit_details_never_hold_the_key(admin, with_key, staging, sim):
    admin.post(options_url(staging), form_data(staging, pre_deploy_commands="echo hi"))
    for event in AuditEvent.objects.all():
        assert sim.api_key not in str(event.details)
    assert AuditEvent.objects.get().details["pre_deploy_commands"] == "changed"


def test_a_migration_preset_is_audited_as_a_command_change(admin, staging):
    admin.post(options_url(staging), form_data(staging, migration_preset="rails"))
    details = AuditEvent.objects.get().details
    assert details["migration_command"] == {"from": "", "to": "rake db:migrate"}


def test_auto_promote_is_saved_only_with_a_health_check(admin, with_key, staging):
    response = admin.post(options_url(staging), form_data(staging, auto_promote="on"))
    assert (
        "Only a healthy deploy is promoted: set a health check URL or expected text above, or "
        "leave this off." in page(response)
    )
    assert not Environment.objects.get(pk=staging.pk).auto_promote
    data = form_data(staging, auto_promote="on", health_check_text="ok")
    assert "Saved the deploy options" in page(admin.post(options_url(staging), data, follow=True))
    assert Environment.objects.get(pk=staging.pk).auto_promote
