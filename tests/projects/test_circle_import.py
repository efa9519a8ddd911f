"""Import from circle.yml: CircleCI's documented deployment sections, real-shaped files (under
circle_files/), and hostile ones: billion laughs, a megabyte, binary garbage, not a mapping."""

import html
import re
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml
from django.db import IntegrityError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploys import runners
from deploys.logformat import read_lines
from deploys.logwriter import LogWriter
from projects import circle_import
from projects.circle_import import CircleImportError, parse
from projects.models import AuditEvent, Environment
from tests.deploys.factories import make_deploy
from tests.heroku_sim.fixtures import APP, default_state, start_heroku_sim
from tests.projects.test_wizard_fixtures import *  # noqa: F403
from tests.projects.test_wizard_fixtures import SETTINGS, page

# Each import checks its apps with Heroku: the simulator, with the deploy account's key.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("with_key")]
IMPORT = SETTINGS + "import/"
FILES = Path(__file__).parent / "circle_files"
LINE = re.compile(r"<li><code>(.*?)</code> → (.*?)</li>", re.S)
# The apps the sample files deploy to, owned by the simulator's deploy account.
SAMPLE_APPS = ["shop-staging", "shop-production", "acme-staging", "acme-production", "foo-bar-124"]


@pytest.fixture(scope="module")
def sample_apps_sim():
    state = default_state()
    owner = state["accounts"][0]["email"]
    state["apps"] += [
        {"name": name, "owner": owner, "formation": {"web": 1}} for name in SAMPLE_APPS
    ]
    with start_heroku_sim(state) as sim:
        yield sim


@pytest.fixture
def heroku_sim(sample_apps_sim):
    """The simulator, knowing the sample files' apps too."""
    sample_apps_sim.reset()
    return sample_apps_sim


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


def circle_file(name) -> str:
    return (FILES / name).read_text()


def lines_of(response) -> dict:
    """The preview's "How each line will run": {line as written: how it runs}."""
    return {html.unescape(a): html.unescape(b) for a, b in LINE.findall(page(response))}


def text_of(response) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page(response)))


def import_(client, text):
    """Preview, then confirm, as a person does."""
    preview = client.post(IMPORT, {"circle_yml": text})
    assert "Preview" in page(preview)
    assert not Environment.objects.exists(), "the preview saved something"
    return preview, client.post(IMPORT, {"circle_yml": text, "confirm": "1"}, follow=True)


def test_heroku_appname_section(admin):
    preview, done = import_(admin, APPNAME)
    assert lines_of(preview)["heroku: appname: foo-bar-123"] == "deploys to that app."
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
    assert "dropped: herokucd pushes from a full clone." in lines_of(preview).values()


def test_maintenance_and_scale_section(admin, project):
    preview, _ = import_(admin, MAINTENANCE)
    e = Environment.objects.get()
    assert (e.name, e.app_name, e.heroku_branch) == ("staging", "foo-bar-123", "master")
    assert e.branch == project.default_branch
    assert e.maintenance_mode == "deploy"
    assert e.scale_down_types == "worker"
    assert (e.migration_command, e.migration_timeout) == ("rake db:migrate", 400)
    assert (e.pre_deploy_commands, e.post_deploy_commands) == ("", "")
    lines = lines_of(preview)
    assert lines["branch:"] == "none given: the project's default branch main."
    assert lines["heroku scale worker=x --app foo-bar-123"] == (
        "herokucd scales process types back to their previous counts."
    )
    assert lines["heroku maintenance:off --app foo-bar-123"] == (
        "herokucd turns maintenance mode off itself."
    )


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
    # The --app stays: without it the CLI stops with "Missing required flag app".
    assert (
        e.post_deploy_commands == "heroku run rake cache:warm --app foo-bar-123\n./bin/notify done"
    )
    assert e.post_deploy_timeout == 120
    assert "dropped: herokucd authenticates with the stored API key." in lines_of(preview).values()


def test_a_regex_branch_is_kept(admin):
    import_(admin, APPNAME.replace("branch: master", "branch: /feature_.*/"))
    assert Environment.objects.get().branch == "/feature_.*/"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("deployment: [unclosed", "This is not valid YAML near line"),
        ("deployment:\n  staging:\n    branch: main\n  - x", "This is not valid YAML near line 4"),
        ("machine:\n  ruby:\n    version: 2.7\n", "has no deployment: section"),
        ("just some words", "has no deployment: section: its top level is a text"),
        ("deployment:\n  - staging\n", "deployment: is a list of 1 item here"),
        ("# only a comment\n", "its top level is empty"),
        ("\x00", "Null characters are not allowed."),
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
        (APPNAME.replace("foo-bar-123", "Foo-Bar"), "must not include upper-case characters"),
        (APPNAME.replace("appname: foo-bar-123", "app: foo-bar-123"), "heroku: must hold appname"),
        (APPNAME.replace("staging", "s" * 60), "at most 50 characters"),
        (
            APPNAME + APPNAME.replace("deployment:\n  staging", "  Staging"),
            "names the environment “Staging” twice",
        ),
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


def test_a_deployment_section_with_an_override_list_imports_its_environments(admin):
    preview, done = import_(admin, circle_file("override.yml"))
    assert [e.name for e in Environment.objects.all()] == ["staging", "production"]
    production = Environment.objects.get(name="production")
    assert (production.app_name, production.maintenance_mode) == ("shop-production", "deploy")
    assert (production.migration_command, production.migration_timeout) == ("rake db:migrate", 900)
    lines = lines_of(preview)
    assert lines["heroku run rake db:migrate --app shop-production"] == (
        "migration in a one-off dyno: rake db:migrate (timeout 900 s)."
    )
    assert lines["git push git@heroku.com:shop-production.git $CIRCLE_SHA1:refs/heads/master"] == (
        "skipped: git push is what herokucd does (to master, over HTTPS)."
    )
    skipped = lines_of_skipped(preview)
    assert skipped["override"].startswith("Not an environment: CircleCI 1.0's deployment:")
    assert "Imported staging, production from circle.yml." in page(done)


def lines_of_skipped(response) -> dict:
    section = page(response).split("<h3>Skipped</h3>", 1)[1].split("</ul>", 1)[0]
    items = re.findall(r"<li><code>(.*?)</code>: (.*?)</li>", section, re.S)
    return {html.unescape(a): html.unescape(b) for a, b in items}


def test_odd_entries_are_skipped_with_their_reason_and_do_not_block_the_good_one(admin):
    preview, _ = import_(admin, circle_file("odd_entries.yml"))
    e = Environment.objects.get()
    assert (e.name, e.app_name, e.migration_command, e.migration_timeout) == (
        "production",
        "foo-bar-123",
        "rake db:migrate",
        400,
    )
    assert e.post_deploy_commands == "./bin/smoke-test"
    skipped = lines_of_skipped(preview)
    assert sorted(skipped) == ["docs", "legacy", "notes", "pre", "release"]
    assert "No Heroku app name found" in skipped["docs"]
    assert "it must be a list of commands" in skipped["legacy"]
    assert "herokucd deploys branches" in skipped["release"]
    assert "it is a text" in skipped["notes"]
    lines = lines_of(preview)
    assert lines["true"].startswith("skipped: not a command (YAML reads it as true)")
    assert lines["./bin/start-server"].startswith("skipped: background:")
    assert "Its timeout: ten minutes is ignored" in lines["./bin/smoke-test"]
    assert "a command of several lines" in lines["echo one\necho two\n"]


def test_per_command_timeouts_become_the_steps_timeouts(admin):
    preview, _ = import_(admin, circle_file("timeouts.yml"))
    e = Environment.objects.get()
    assert (e.branch, e.heroku_branch, e.force_push) == ("main, hotfix", "main", True)
    assert e.pre_deploy_commands == "npm run build-assets\n./bin/upload-assets"
    assert e.pre_deploy_timeout == 1200
    assert (e.migration_command, e.migration_timeout) == (
        "python manage.py migrate --noinput",
        1500,
    )
    assert e.post_deploy_commands == (
        "./warm-cache.sh\nexport CHANNEL='#deploys' && cd tools && ./notify.sh deployed"
    )
    assert e.post_deploy_timeout == 45
    lines = lines_of(preview)
    assert lines["./bin/upload-assets"] == (
        "pre-deploy command: ./bin/upload-assets (timeout 1200 s)."
    )


def test_legitimate_anchors_and_merge_keys_are_read(admin):
    text = circle_file("anchors.yml")
    assert text.count("*") == 7
    import_(admin, text)
    staging, production = Environment.objects.all()
    assert (staging.branch, staging.app_name, production.app_name) == (
        "/release-.*/",
        "acme-staging",
        "acme-production",
    )
    for e in (staging, production):
        assert (e.migration_command, e.migration_timeout) == ("python manage.py migrate", 900)
        assert e.post_deploy_commands == "./bin/notify-slack"


def test_heroku_run_lines_keep_their_app_and_show_how_they_run(admin):
    preview, _ = import_(admin, circle_file("heroku_run.yml"))
    e = Environment.objects.get()
    assert e.migration_command == "rake db:migrate"
    assert e.post_deploy_commands.splitlines() == [
        "heroku run sh slow.sh --app foo-bar-123",
        "heroku run echo cache-warmed --app foo-bar-123",
        "heroku run --app foo-bar-123 echo no-app-given",
        "heroku restart --app foo-bar-123",
    ]
    assert e.post_deploy_timeout == 600
    lines = lines_of(preview)
    assert lines["heroku run sh slow.sh --app foo-bar-123"] == (
        "post-deploy command: heroku run sh slow.sh --app foo-bar-123 (timeout 600 s)."
    )
    assert lines["heroku run echo no-app-given"].endswith("--app added: the CLI needs it to run.")
    assert lines["heroku run rake db:migrate --app foo-bar-123"].startswith(
        "migration in a one-off dyno"
    )


@pytest.mark.cli
@pytest.mark.django_db(transaction=True)
def test_imported_heroku_run_commands_really_run_on_the_app(admin, sim, git_repo, project):
    """The imported lines, run as a deploy runs them, start one-off dynos on the app instead of
    stopping at the CLI's "Missing required flag app"."""
    import_(admin, circle_file("heroku_run.yml"))
    e = Environment.objects.get()
    deploy = make_deploy(project)
    writer = LogWriter(deploy)
    commands = e.post_deploy_commands.splitlines()[1:3]  # echo cache-warmed, echo no-app-given
    try:
        runners.run_commands(
            commands,
            git_repo.path,
            api_key=sim.api_key,
            writer=writer,
            timeout=e.post_deploy_timeout,
            idle_timeout=120,
            cancel_event=None,
        )
        writer.flush()
        log = "\n".join(line.text for line in read_lines(deploy))
    finally:
        writer.close()
    assert "Missing required flag" not in log
    assert "cache-warmed" in log and "no-app-given" in log
    ran = [dyno["command"] for dyno in sim.app_state(APP)["dynos"]]
    assert ran[-2:] == ["echo cache-warmed", "echo no-app-given"]


def laughs(text) -> int:
    """How many characters the document's strings expand to, counted on the composed nodes
    (which share aliased nodes instead of copying them)."""
    memo = {}

    def size(node):
        if id(node) not in memo:
            if isinstance(node, yaml.ScalarNode):
                memo[id(node)] = len(node.value)
            elif isinstance(node, yaml.SequenceNode):
                memo[id(node)] = sum(size(n) for n in node.value)
            else:
                memo[id(node)] = sum(size(k) + size(v) for k, v in node.value)
        return memo[id(node)]

    return size(yaml.compose(text, Loader=yaml.SafeLoader))


def test_billion_laughs_is_refused_quickly_before_it_expands(admin):
    text = circle_file("billion_laughs.yml")
    assert len(text.encode()) < 400
    assert laughs(text) > 34_000_000
    started = time.monotonic()
    response = admin.post(IMPORT, {"circle_yml": text, "confirm": "1"})
    assert time.monotonic() - started < 2
    assert response.status_code == 200
    assert "This YAML uses more than 20 aliases (*name), so it was not read" in text_of(response)
    assert not Environment.objects.exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("one_megabyte.yml", "bytes; herokucd reads a circle.yml of up to 65,536 bytes."),
        ("not_a_mapping.yml", "its top level is a list of 3 items"),
        ("multiple_documents.yml", "This text holds more than one YAML document"),
    ],
)
def test_hostile_files_are_refused_with_a_clear_message(admin, name, message):
    started = time.monotonic()
    response = admin.post(IMPORT, {"circle_yml": circle_file(name), "confirm": "1"})
    assert time.monotonic() - started < 2
    assert response.status_code == 200
    assert message in text_of(response)
    assert "Import environments</button>" not in page(response)
    assert not Environment.objects.exists()


def test_binary_garbage_as_a_browser_would_send_it_is_refused(admin):
    body = urlencode({"circle_yml": (FILES / "garbage.bin").read_bytes(), "confirm": "1"})
    response = admin.post(IMPORT, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert "Null characters are not allowed." in text_of(response)
    printable = (FILES / "garbage.bin").read_bytes().replace(b"\0", b"")
    response = admin.post(IMPORT, urlencode({"circle_yml": printable}), content_type=FORM)
    assert "which YAML does not allow (is it a binary file?)" in text_of(response)
    assert not Environment.objects.exists()


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    "text", ["[" * 30_000, "a:\n" + "".join(" " * i + "b:\n" for i in range(1, 200))]
)
def test_deep_nesting_is_refused_not_a_crash(admin, text):
    response = admin.post(IMPORT, {"circle_yml": text})
    assert response.status_code == 200
    assert "nested more than 20 levels deep" in text_of(response)


def test_a_failed_save_keeps_no_environment(admin, monkeypatch):
    """A concurrent insert makes the second create fail: the first one is rolled back too."""
    create, calls = Environment.objects.create, []

    def create_then_conflict(**values):
        calls.append(values["name"])
        if len(calls) == 2:
            raise IntegrityError("duplicate key value violates unique constraint")
        return create(**values)

    monkeypatch.setattr(Environment.objects, "create", create_then_conflict)
    response = admin.post(IMPORT, {"circle_yml": circle_file("override.yml"), "confirm": "1"})
    assert response.status_code == 200
    assert calls == ["staging", "production"]
    assert "Nothing was imported: an environment of the same name" in text_of(response)
    assert not Environment.objects.exists()
    assert not AuditEvent.objects.exists()


YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=12) | st.sampled_from(sorted(circle_import.MODIFIERS)),
            children,
            max_size=4,
        )
    ),
    max_leaves=25,
)
ENTRY_KEYS = st.sampled_from(["branch", "tag", "owner", "heroku", "commands", "appname", "x"])
ENTRIES = st.dictionaries(ENTRY_KEYS, YAML_VALUES, max_size=5) | YAML_VALUES
CIRCLE_FILES = st.dictionaries(
    st.sampled_from(["deployment", "machine", "test"]),
    st.dictionaries(st.text(max_size=12), ENTRIES, max_size=4) | YAML_VALUES,
    max_size=3,
).map(lambda document: yaml.safe_dump(document, allow_unicode=True))
# Pieces of circle.yml and of YAML that is hard to read, put together at random.
FRAGMENTS = st.sampled_from(
    [
        "deployment:\n",
        "  staging:\n",
        "    branch: ",
        "    heroku:\n      appname: foo-bar-123\n",
        "    commands:\n",
        "      - ",
        "git push heroku main\n",
        "heroku run sh slow.sh --app foo-bar-123:\n",
        "        timeout: ",
        "2020-02-30",
        "9" * 5000,
        "&a ",
        "*a",
        "<<: *a\n",
        "!!binary ",
        "!!python/object:os.system ",
        "? [a]\n",
        "---\n",
        "'",
        '"',
        "{",
        "[",
        "\t",
        ": ",
        "\n",
    ]
)
PIECED = st.lists(FRAGMENTS | st.text(max_size=8), max_size=40).map("".join)
ANY_TEXT = (
    st.text(max_size=400)
    | CIRCLE_FILES
    | PIECED
    | st.sampled_from(
        [circle_file(p.name) for p in FILES.glob("*.yml") if p.stat().st_size < 10_000]
    )
)
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(ANY_TEXT, st.sampled_from(["main", "master"]))
def test_the_parser_gives_plans_or_a_clear_refusal_for_any_text(text, branch):
    try:
        parsed = parse(text, branch)
    except CircleImportError as error:
        assert str(error).endswith(".")
        return
    for plan in parsed.plans:
        assert plan.app or plan.problems
        assert all(line.how for line in plan.lines)
    assert all(skipped.reason for skipped in parsed.skipped)


def test_the_page_never_answers_500_to_any_text(admin):
    @settings(FUZZ, max_examples=100)
    @given(ANY_TEXT)
    def post(text):
        response = admin.post(IMPORT, {"circle_yml": text, "confirm": "1"})
        assert response.status_code in (200, 302)

    post()


@pytest.mark.parametrize("name", ["billion_laughs.yml", "anchors.yml", "multiple_documents.yml"])
def test_the_limits_hold_with_the_pure_python_loader_too(monkeypatch, name):
    """PyYAML built without libyaml reads the same way."""
    with_libyaml = outcome(circle_file(name))
    monkeypatch.setattr(circle_import, "LOADER", yaml.SafeLoader)
    assert outcome(circle_file(name)) == with_libyaml


def outcome(text):
    try:
        return [(plan.name, plan.values) for plan in parse(text, "main").plans]
    except CircleImportError as error:
        return str(error)


def test_text_that_is_not_unicode_is_refused():
    with pytest.raises(CircleImportError, match="it holds characters that are not text"):
        parse("deployment:\n  x: \udcff\n", "main")


def test_a_backup_before_the_migration_becomes_the_backup_option(admin):
    preview, _ = import_(admin, circle_file("backups.yml"))
    production = Environment.objects.get(name="production")
    assert production.backup_before_migrate is True
    assert production.pre_deploy_commands == ""
    assert production.migration_timeout == 400
    # Without a migration herokucd's backup option would never run: the command stays.
    staging = Environment.objects.get(name="staging")
    assert staging.backup_before_migrate is False
    assert staging.pre_deploy_commands == "heroku pg:backups capture --app foo-bar-124"
    lines = lines_of(preview)
    assert "Its timeout: 0 is ignored" in lines["heroku run rake db:migrate --app foo-bar-123"]


def test_only_a_push_to_heroku_is_the_deploys_push():
    text = """\
deployment:
  production:
    branch: main
    heroku:
      appname: foo-bar-123
    commands:
      - git push origin --tags
      - git push heroku main && ./notify.sh
      - ./bin/release-notes > notes.txt
"""
    plan = parse(text, "main").plans[0]
    assert (
        plan.values["pre_deploy_commands"]
        == "git push origin --tags\n./bin/release-notes > notes.txt"
    )
    how = {line.source: line.how for line in plan.lines}
    assert how["git push heroku main && ./notify.sh"].startswith(
        "skipped: it pushes to Heroku among other commands"
    )


@pytest.mark.parametrize(
    "value",
    ["1" * 5000, "2020-02-30", "[2020-13-01]"],
    ids=["huge-number", "no-such-date", "month-13"],
)
def test_values_yaml_cannot_build_are_refused_not_a_crash(admin, value):
    text = APPNAME.replace("branch: master", f"branch: {value}")
    response = admin.post(IMPORT, {"circle_yml": text})
    assert response.status_code == 200
    assert "This YAML holds a value that cannot be read as what it looks like" in text_of(response)


def test_a_huge_timeout_is_ignored_and_shown_short():
    text = MIGRATE.replace("timeout: 400", "timeout: " + "9" * 400)
    plan = parse(text, "main").plans[0]
    assert "migration_timeout" not in plan.values
    how = {line.source: line.how for line in plan.lines}[
        "heroku run rake db:migrate --app foo-bar-123"
    ]
    assert "Its timeout: 9999999999999999999… is ignored" in how


def test_line_breaks_never_split_one_command_into_two():
    text = """\
deployment:
  production:
    branch: main
    heroku:
      appname: foo-bar-123
    commands:
      - "./one.sh\\u2028./two.sh"
      - ./notify.sh:
          pwd: 7
          environment:
            GOOD: "yes"
            BAD: "first\\nsecond"
"""
    plan = parse(text, "main").plans[0]
    assert plan.values["pre_deploy_commands"] == "export GOOD=yes && cd 7 && ./notify.sh"
    how = [line.how for line in plan.lines]
    assert any(h.startswith("skipped: a command of several lines") for h in how)
