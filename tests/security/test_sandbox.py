"""Custom commands run in a bubblewrap sandbox: each attack of issue 13 made from a real
pre-deploy command of a real deploy (the pipeline against the Heroku simulator) fails, while the
official Heroku CLI in the same deploy still reaches the simulator."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from deploys import mirror
from deploys.models import State
from projects.models import Membership, Project, Role
from tests.conftest import store_heroku_key
from tests.deploys import conftest as deploys_fixtures
from tests.deploys.test_pipeline import configure, deploy_now, log_text
from tests.heroku_sim.fixtures import APP

pytestmark = pytest.mark.django_db(transaction=True)

# The deploy tests' fixtures: a project whose environment deploys to the simulator's app.
sim = deploys_fixtures.sim
credential = deploys_fixtures.credential
redis_up = deploys_fixtures.redis_up
environment = deploys_fixtures.environment

# Variables bash or herokucd set in the command that the worker may have been started with too.
SAME_ANYWAY = ("LANG=", "GIT_TERMINAL_PROMPT=", "GIT_CONFIG_NOSYSTEM=", "SHLVL=", "PWD=", "_=")
OTHER_KEY = "0ther-pr0ject-heroku-key-6f1d2c"


def another_project(user):
    return Project.objects.create(name="Other", slug="other", repository_url="/x", created_by=user)


def run_commands(environment, *lines):
    """Deploy with `lines` as pre-deploy commands (each made to succeed, so that all run)."""
    commands = "\n".join(f"{line} || echo REFUSED" for line in lines)
    configure(environment, pre_deploy_commands=commands)
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    # What the commands printed, without the log's "$ command" lines that echo them.
    return "\n".join(line for line in log_text(deploy).splitlines() if not line.startswith("$ "))


@pytest.fixture
def worker_secrets(monkeypatch):
    """The worker's environment as production has it: secrets a command must never see."""
    secrets = {
        "SECRET_KEY": "worker-secret-key-8c41",
        "DATABASE_URL": "postgres://herokucd:db-password-77ab@127.0.0.1/herokucd",
        "FIELD_ENCRYPTION_KEYS": "worker-field-key-3e90",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    return secrets


@pytest.mark.cli
def test_a_command_sees_no_other_process_and_none_of_the_workers_environment(
    environment, sim, worker_secrets
):
    worker = os.getpid()
    log = run_commands(
        environment,
        "tr '\\0' '\\n' </proc/$PPID/environ",
        f"tr '\\0' '\\n' </proc/{worker}/environ",
        "for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' <$f; done",
        'echo "processes: $(ls -d /proc/[0-9]* | wc -l)"',
        "env",
        f"heroku apps:info --app {APP}",
    )
    for name, value in worker_secrets.items():
        assert value not in log, f"{name} leaked into the command"
        assert f"{name}=" not in log
    # /proc/<pid>/environ holds what the worker was started with: none of it may show.
    started_with = Path(f"/proc/{worker}/environ").read_bytes().decode().split("\0")
    leaked = [entry for entry in started_with if "=" in entry and entry in log.splitlines()]
    assert not [entry for entry in leaked if not entry.startswith(SAME_ANYWAY)]
    assert f"/proc/{worker}/environ: No such file or directory" in log
    count = int(log.split("processes: ")[1].split()[0])
    assert count < 8  # bwrap's init, bash and its pipeline: no worker, no other process
    assert f"=== {APP}" in log  # the real CLI reached the simulator from inside the sandbox


def test_a_command_cannot_read_the_data_folder(environment, sim):
    data = Path(django_settings.DATA_DIR)
    keys = (data / "field_encryption_keys").read_text().strip()
    log = run_commands(
        environment,
        f"cat {data}/field_encryption_keys",
        f"cat {data}/secret_key",
        f"head -c 100 {data}/db.sqlite3 {data}/test-db.sqlite3 | od -c | head",
        f"ls -la {data} {data}/mirrors",
    )
    assert keys and keys not in log
    assert f"cat: {data}/field_encryption_keys: No such file or directory" in log
    assert "SQLite" not in log
    assert f"cannot access '{data}'" in log


def test_manage_py_shell_cannot_print_another_projects_heroku_key(environment, sim, alice):
    other = another_project(alice)
    Membership.objects.create(project=other, user=alice, role=Role.ADMIN)
    store_heroku_key(other, OTHER_KEY, alice)
    shell = (
        "from projects.models import HerokuCredential as C; "
        "print([c.api_key for c in C.objects.all()])"
    )
    log = run_commands(
        environment,
        f'cd {django_settings.BASE_DIR} && {sys.executable} manage.py shell -c "{shell}"',
        f'{sys.executable} {django_settings.BASE_DIR}/manage.py shell -c "{shell}"',
    )
    assert OTHER_KEY not in log
    assert f"cd: {django_settings.BASE_DIR}: No such file or directory" in log
    assert "REFUSED" in log


def test_a_command_cannot_kill_the_worker(environment, sim):
    worker = os.getpid()
    log = run_commands(
        environment,
        f"kill -9 {worker}",
        # Only where the PID namespace holds a handful of processes: -1 outside it would be every
        # process of this machine, and the process count above already makes the test fail.
        '[ "$(ls -d /proc/[0-9]* | wc -l)" -lt 8 ] && kill -9 -1',
        "echo survived",
    )
    assert os.getpid() == worker  # this test process, the deploy's worker, is still here
    assert "No such process" in log
    assert "survived" in log


def test_a_command_cannot_read_another_deploys_checkout_or_another_projects_mirror(
    environment, sim, alice, git_repo
):
    other = another_project(alice)
    other_mirror = mirror.mirror_path(other)
    other_mirror.parent.mkdir(parents=True, exist_ok=True)
    clone = ["git", "clone", "-q", "--mirror", str(git_repo.path), str(other_mirror)]
    subprocess.run(clone, check=True)
    checkout = Path(tempfile.mkdtemp(prefix="herokucd-checkout-"))
    (checkout / "unreleased.txt").write_text("another deploy's unreleased work")
    try:
        log = run_commands(
            environment,
            f"cat {checkout}/unreleased.txt",
            f"ls {tempfile.gettempdir()}/herokucd-checkout-*/",
            f"git --git-dir {other_mirror} log --oneline",
            f"ls {other_mirror.parent}",
        )
    finally:
        subprocess.run(["rm", "-rf", str(checkout), str(other_mirror)], check=True)
    assert "unreleased work" not in log
    assert f"cat: {checkout}/unreleased.txt: No such file or directory" in log
    assert "Initial commit" not in log and "hello" not in log.split("ls ")[-1]
    assert f"cannot access '{other_mirror.parent}'" in log


def test_the_checkout_and_home_are_writable_the_system_is_not(environment, sim):
    log = run_commands(
        environment,
        "echo written > made-here.txt && cat made-here.txt",
        'echo "home: $HOME" && touch ~/ok && echo home-writable',
        "touch /usr/bin/evil && echo SYSTEM-WRITABLE",
        'echo "uid: $(id -u) sha: $CIRCLE_SHA1 app: $HEROKU_APP_NAME"',
    )
    assert "written" in log and "home-writable" in log
    assert "SYSTEM-WRITABLE" not in log
    assert "uid: 1000 " in log
    assert f"app: {APP}" in log


def test_without_bwrap_a_deploy_with_commands_fails_before_any_heroku_change(
    environment, sim, settings
):
    settings.BWRAP = "/nonexistent/bwrap"
    configure(environment, pre_deploy_commands="echo hi")
    before = sim.app_state()["current_commit"]
    deploy = deploy_now(environment)
    assert deploy.state == State.FAILED
    assert "bwrap was not found at /nonexistent/bwrap" in deploy.reason
    assert "apt-get install bubblewrap" in deploy.reason
    assert "UNSANDBOXED_COMMANDS=True" in deploy.reason
    assert not deploy.steps.exclude(started_at=None).exists()  # not even the checkout started
    assert sim.app_state()["current_commit"] == before
    methods = {event["method"] for event in sim.state()["events"]}
    assert methods <= {"GET"}


def test_where_user_namespaces_are_refused_the_deploy_says_so(environment, sim, settings, tmp_path):
    refusing = tmp_path / "bwrap"
    said = "bwrap: No permissions to create new namespace"
    refusing.write_text(f"#!/bin/sh\necho '{said}' >&2\nexit 1\n")
    refusing.chmod(0o755)
    settings.BWRAP = str(refusing)
    configure(environment, post_deploy_commands="echo hi")
    deploy = deploy_now(environment)
    assert deploy.state == State.FAILED
    assert "could not make a sandbox on this host" in deploy.reason
    assert "No permissions to create new namespace" in deploy.reason
    assert not deploy.steps.exclude(started_at=None).exists()


def test_a_deploy_without_commands_needs_no_sandbox(environment, sim, settings):
    settings.BWRAP = "/nonexistent/bwrap"
    deploy = deploy_now(environment)
    assert deploy.state == State.SUCCEEDED, deploy.reason


def test_the_opt_out_runs_commands_unsandboxed_and_the_settings_pages_warn(
    environment, sim, settings, client, alice
):
    settings.BWRAP = "/nonexistent/bwrap"
    settings.UNSANDBOXED_COMMANDS = True
    data = Path(settings.DATA_DIR)
    log = run_commands(environment, f"test -d {data} && echo data-folder-visible")
    assert "data-folder-visible" in log  # on the host itself, as the operator chose
    client.force_login(alice)
    pages = [
        reverse("environment_options", args=[environment.project.slug, environment.pk]),
        reverse("circle_import", args=[environment.project.slug]),
    ]
    for url in pages:
        body = client.get(url).content.decode()
        assert "Custom commands run without a sandbox on this installation." in body, url
    settings.UNSANDBOXED_COMMANDS = False
    body = client.get(pages[0]).content.decode()
    assert "without a sandbox" not in body
