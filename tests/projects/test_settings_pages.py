"""How the setup and settings pages read: the forms' words in the audit trail and the import
preview, one vocabulary for times, help text that keeps its <angle brackets>, tabs back to the
project."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from projects.models import AuditEvent
from projects.templatetags.project_tags import ago, reltime
from tests.projects.test_settings import form_data, options_url, staging  # noqa: F401
from tests.projects.test_wizard_fixtures import *  # noqa: F403
from tests.projects.test_wizard_fixtures import SETTINGS, SETUP, page

pytestmark = pytest.mark.django_db


def audit_text(client):
    body = page(client.get(SETTINGS))
    return body[body.index("Audit trail") :]


def test_the_audit_trail_shows_field_and_choice_labels(admin, staging):  # noqa: F811
    admin.post(options_url(staging), form_data(staging, maintenance_mode="deploy"))
    text = audit_text(admin)
    assert "Maintenance mode: Off → Every deploy: from before the push" in text
    assert "maintenance_mode" not in text and "'deploy'" not in text


def test_the_audit_trail_names_process_types_and_commands_in_words(admin, staging):  # noqa: F811
    changes = {"scale_down_types": "worker", "pre_deploy_commands": "echo hi"}
    admin.post(options_url(staging), form_data(staging, **changes))
    text = audit_text(admin)
    assert "Process types to scale to 0 during migrations: (empty) → worker" in text
    assert "Pre-deploy commands changed" in text
    assert "scale_down_types" not in text and "echo hi" not in text


def test_a_password_in_a_health_check_url_never_reaches_the_audit_trail(admin, staging):  # noqa: F811
    url = "https://deploy:hunter2@example.com/health"
    admin.post(options_url(staging), form_data(staging, health_check_url=url))
    details = AuditEvent.objects.get().details
    assert details["health_check_url"]["to"] == "https://deploy:••••@example.com/health"
    assert "hunter2" not in audit_text(admin)


def test_a_change_under_a_minute_old_happened_just_now(admin, staging):  # noqa: F811
    admin.post(options_url(staging), form_data(staging, force_push="on"))
    text = audit_text(admin)
    assert "just now" in text and "0\xa0minutes" not in text and "0 minutes" not in text


def test_relative_times_use_the_largest_whole_unit_and_give_the_exact_time_on_hover():
    now = timezone.now()
    assert ago(now - timedelta(seconds=59), now) == "just now"
    assert ago(now - timedelta(minutes=1), now) == "1\xa0minute ago"
    assert ago(now - timedelta(hours=3, minutes=5), now) == "3\xa0hours ago"
    assert ago(now + timedelta(seconds=5), now) == "just now"
    html = reltime(now - timedelta(days=2), now)
    assert html.startswith('<time datetime="') and 'title="' in html and "2\xa0days ago" in html


def test_the_app_name_help_keeps_its_angle_brackets(admin, with_key):
    body = page(admin.get(f"{SETUP}3/"))
    assert "heroku apps:info -a &lt;name&gt;" in body


@pytest.mark.parametrize("url", [SETTINGS, f"{SETUP}1/", f"{SETTINGS}import/"])
def test_setup_and_settings_pages_have_the_project_tabs(admin, with_key, url):
    body = page(admin.get(url))
    assert 'aria-label="Project"' in body
    assert 'href="/projects/foo-bar/"' in body


def test_the_import_preview_names_options_as_the_settings_form_does(admin):
    yml = (
        "deployment:\n  production:\n    branch: production\n"
        "    heroku:\n      appname: foo-bar-123\n"
    )
    body = page(admin.post(f"{SETTINGS}import/", {"circle_yml": yml}))
    assert "<dt>App name</dt>" in body and "<dt>Git ref on Heroku</dt>" in body
    assert "<dt>app_name</dt>" not in body


def test_an_option_with_an_error_is_marked_invalid_and_the_error_comes_before_the_help(
    admin,
    staging,  # noqa: F811
):
    body = page(admin.post(options_url(staging), form_data(staging, scale_down_types="bad type")))
    widget = re.search(r'<input[^>]*name="scale_down_types"[^>]*>', body).group()
    assert 'aria-invalid="true"' in widget
    assert 'aria-describedby="id_scale_down_types_error_0 id_scale_down_types_helptext"' in widget
    after = body[body.index(widget) :]
    assert after.index('class="error"') < after.index('class="help"')
