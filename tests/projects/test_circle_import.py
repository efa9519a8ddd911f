"""Import from circle.yml: CircleCI's three documented deployment sections, and bad input."""

import pytest

from projects.models import AuditEvent, Environment
from tests.projects.test_wizard_fixtures import *  # noqa: F403
from tests.projects.test_wizard_fixtures import SETTINGS, page

# Each import checks its apps with Heroku: the simulator, with the deploy account's key.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("with_key")]
IMPORT = SETTINGS + "import/"

APPNAME = """\
deployment:
  staging:
    branch: master
    heroku:
      appname: foo-bar-123
"""
MIGRATE = """\
deployment:
  production:
    branch: production
    commands:
      - "[[ ! -s \\"$(git rev-parse --git-dir)/shallow\\" ]] || git fetch --unshallow"
      - git push git@heroku.com:foo-bar-123.git $CIRCLE_SHA1:refs/heads/master
      - heroku run rake db:migrate --app foo-bar-123:
          timeout: 400 # if your deploys take a long time
"""
MAINTENANCE = """\
deployment:
  staging:
    commands:
      - heroku maintenance:on --app foo-bar-123
      - heroku scale worker=0 --app foo-bar-123
      - git push git@heroku.com:foo-bar-123.git $CIRCLE_SHA1:refs/heads/master
      - heroku run rake db:migrate --app foo-bar-123
      - heroku scale worker=x --app foo-bar-123
      - heroku maintenance:off --app foo-bar-123
"""


def import_(client, text):
    """Preview, then confirm, as a person does."""
    preview = client.post(IMPORT, {"circle_yml": text})
    assert "Preview" in page(preview)
    assert not Environment.objects.exists(), "the preview saved something"
    return preview, client.post(IMPORT, {"circle_yml": text, "confirm": "1"}, follow=True)


def test_heroku_appname_section(admin):
    preview, done = import_(admin, APPNAME)
    assert "heroku: appname: foo-bar-123 → deploys to that app." in page(preview)
    e = Environment.objects.get()
    assert (e.name, e.branch, e.app_name, e.heroku_branch) == (
        "staging",
        "master",
        "foo-bar-123",
        "master",
    )
    assert "Imported staging from circle.yml." in page(done)
    assert AuditEvent.objects.get().details == {"environments": ["staging"]}


def test_push_and_migrate_with_timeout_section(admin):
    preview, _ = import_(admin, MIGRATE)
    e = Environment.objects.get()
    assert (e.name, e.branch, e.app_name, e.heroku_branch, e.force_push) == (
        "production",
        "production",
        "foo-bar-123",
        "master",
        False,
    )
    assert (e.migration_command, e.migration_timeout) == ("rake db:migrate", 400)
    assert (e.pre_deploy_commands, e.post_deploy_commands) == ("", "")
    assert "dropped: herokucd pushes from a full clone." in page(preview)


def test_maintenance_and_scale_section(admin, project):
    preview, _ = import_(admin, MAINTENANCE)
    e = Environment.objects.get()
    assert (e.name, e.app_name, e.heroku_branch) == ("staging", "foo-bar-123", "master")
    assert e.branch == project.default_branch
    assert e.maintenance_mode == "deploy"
    assert e.scale_down_types == "worker"
    assert (e.migration_command, e.migration_timeout) == ("rake db:migrate", 400)
    assert (e.pre_deploy_commands, e.post_deploy_commands) == ("", "")
    body = page(preview)
    assert "No branch: given; using the project&#x27;s default branch main." in body
    assert "herokucd scales process types back to their previous counts." in body
    assert "herokucd turns maintenance mode off itself." in body


def test_netrc_lines_are_dropped_and_other_commands_kept_in_order(admin):
    text = """\
deployment:
  production:
    branch: [main, release]
    commands:
      - echo "machine api.heroku.com login $HEROKU_EMAIL password $HEROKU_TOKEN" > ~/.netrc
      - ./bin/notify start
      - git push -f git@heroku.com:foo-bar-123.git $CIRCLE_SHA1:refs/heads/main
      - heroku maintenance:on --app foo-bar-123
      - heroku run rails db:migrate --app foo-bar-123
      - heroku run rake cache:warm --app foo-bar-123:
          timeout: 120
      - ./bin/notify done
"""
    preview, _ = import_(admin, text)
    e = Environment.objects.get()
    assert e.branch == "main, release"
    assert (e.heroku_branch, e.force_push) == ("main", True)
    assert e.maintenance_mode == "migrations"
    assert e.migration_command == "rails db:migrate"
    assert e.pre_deploy_commands == "./bin/notify start"
    assert e.post_deploy_commands == "heroku run rake cache:warm\n./bin/notify done"
    assert e.post_deploy_timeout == 120
    assert "dropped: herokucd authenticates with the stored API key." in page(preview)


def test_a_regex_branch_is_kept(admin):
    import_(admin, APPNAME.replace("branch: master", "branch: /feature_.*/"))
    assert Environment.objects.get().branch == "/feature_.*/"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("deployment: [unclosed", "This is not valid YAML near line 1"),
        ("deployment:\n  staging:\n    branch: main\n  - x", "This is not valid YAML"),
        ("machine:\n  ruby:\n    version: 2.7\n", "has no deployment: section"),
        ("just some words", "has no deployment: section"),
        ("", "This field is required."),
    ],
)
def test_malformed_input_gets_a_clear_error_and_saves_nothing(admin, text, message):
    response = admin.post(IMPORT, {"circle_yml": text, "confirm": "1"})
    assert message in page(response)
    assert not Environment.objects.exists()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("deployment:\n  staging:\n    branch: main\n", "No Heroku app name found for staging"),
        (APPNAME.replace("foo-bar-123", "Foo-Bar"), "must not include upper-case characters"),
        (APPNAME.replace("master", "/(/"), "does not compile"),
    ],
)
def test_sections_with_problems_are_explained_and_not_importable(admin, text, problem):
    response = admin.post(IMPORT, {"circle_yml": text, "confirm": "1"})
    assert problem in page(response)
    assert "Import environments</button>" not in page(response)
    assert not Environment.objects.exists()


def test_an_existing_environment_name_is_not_overwritten(admin, project):
    Environment.objects.create(project=project, name="staging", branch="x", app_name="abc")
    response = admin.post(IMPORT, {"circle_yml": APPNAME, "confirm": "1"})
    assert "already has an environment “staging”" in page(response)
    assert Environment.objects.get().app_name == "abc"
