"""The git and command runners: streaming, timeouts, and where the API key may go."""

import contextlib
import os
import tempfile
import threading
import time
from pathlib import Path

import pytest

from deploys import logformat, runners
from deploys.logformat import read_lines
from deploys.logwriter import LogWriter
from tests.deploys.factories import make_deploy
from tests.heroku_sim.fixtures import APP

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def writer(project):
    deploy = make_deploy(project)
    writer = LogWriter(deploy)
    writer.deploy = deploy
    yield writer
    writer.close()


def texts(writer):
    writer.flush()
    return [(line.stream, line.text) for line in read_lines(writer.deploy)]


def test_output_streams_line_by_line_with_its_stream(writer, tmp_path):
    script = "printf 'one\\ntwo\\r\\n'; echo oops >&2; printf 'no newline'"
    status = runners.run(["bash", "-c", script], cwd=tmp_path, env=None, writer=writer, timeout=10)
    assert status == 0
    lines = texts(writer)
    assert ("o", "one") in lines
    assert ("o", "two") in lines
    assert ("e", "oops") in lines
    assert ("o", "no newline") in lines


def test_a_windows_line_ending_split_between_two_reads_still_ends_one_line(writer, tmp_path):
    # The "\r" arrives in one read, its "\n" a moment later in the next; a lone "\r" (a
    # progress bar redrawing itself) stays in the line for the viewer.
    script = "printf 'first\\r'; sleep 0.3; printf '\\nsecond\\n10%%\\r50%%\\r100%%\\n'"
    runners.run(["bash", "-c", script], cwd=tmp_path, env=None, writer=writer, timeout=10)
    assert texts(writer) == [("o", "first"), ("o", "second"), ("o", "10%\r50%\r100%")]


def test_a_command_silent_for_too_long_is_stopped(writer, tmp_path):
    started = time.monotonic()
    with pytest.raises(runners.CommandTimeout, match="printed nothing for 1s"):
        runners.run(
            ["bash", "-c", "echo hi; sleep 30"],
            cwd=tmp_path,
            env=None,
            writer=writer,
            timeout=60,
            idle_timeout=1,
            name="the command",
        )
    assert time.monotonic() - started < 5


def test_a_canceled_command_is_stopped_within_seconds(writer, tmp_path):
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(runners.CommandCanceled):
        runners.run(
            ["bash", "-c", "trap '' TERM; sleep 30"],
            cwd=tmp_path,
            env=None,
            writer=writer,
            timeout=60,
            cancel_event=cancel,
        )
    assert time.monotonic() - started < 5


def cmdlines():
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                found.append((entry / "cmdline").read_bytes())
    return found


def test_git_push_gets_the_api_key_only_through_its_environment(
    writer, sim, git_repo, tmp_path, monkeypatch
):
    # A temporary folder of this test's own: other processes' git homes are not this push's.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    homes_before = set(Path(tempfile.gettempdir()).glob("herokucd-home-*"))
    seen, done = [], threading.Event()

    def watch():
        while not done.is_set():
            seen.extend(cmdlines())
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        runners.git_push(
            git_repo.path,
            f"{sim.git_url}/{APP}.git",
            git_repo.head(),
            "main",
            api_key=sim.api_key,
            writer=writer,
            timeout=60,
        )
    finally:
        done.set()
        watcher.join()
    assert sim.app_state()["current_commit"] == git_repo.head()
    assert any(b"git" in line and b"push" in line for line in seen)
    assert not any(sim.api_key.encode() in line for line in seen)
    assert set(Path(tempfile.gettempdir()).glob("herokucd-home-*")) == homes_before
    assert sim.api_key not in str(texts(writer))


def test_a_wrong_key_is_reported_in_herokus_words(writer, sim, git_repo):
    with pytest.raises(runners.CommandFailed) as failure:
        runners.git_push(
            git_repo.path,
            f"{sim.git_url}/{APP}.git",
            git_repo.head(),
            "main",
            api_key="HRKU-not-a-real-key-000000",
            writer=writer,
            timeout=60,
        )
    assert "Heroku rejected the push" in str(failure.value)
    assert "not-a-real-key" not in str(failure.value)


def test_git_refused_over_http_is_reported_with_herokus_message_and_status(writer, sim, git_repo):
    refusal = "!  Too many requests for this Git repo. Please try again later."
    sim.fault("GIT /{app}.git", status=429, message=refusal, count=1)
    with pytest.raises(runners.CommandFailed) as failure:
        runners.git_push(
            git_repo.path,
            f"{sim.git_url}/{APP}.git",
            git_repo.head(),
            "main",
            api_key=sim.api_key,
            writer=writer,
            timeout=60,
        )
    assert str(failure.value) == (
        "Heroku rejected the push (HTTP 429): "
        "Too many requests for this Git repo. Please try again later."
    )


@pytest.mark.cli
def test_custom_commands_can_use_the_official_cli_against_the_configured_api(
    writer, sim, git_repo, settings
):
    if not Path(settings.HEROKU_CLI).exists():
        pytest.skip("the Heroku CLI is not installed (make tools)")
    runners.run_commands(
        [f"heroku config:set FROM_CLI=yes -a {APP}"],
        git_repo.path,
        api_key=sim.api_key,
        writer=writer,
        timeout=120,
        idle_timeout=60,
        cancel_event=None,
    )
    assert sim.app_state()["config_vars"]["FROM_CLI"] == "yes"
    assert "HEROKU_API_KEY" not in os.environ  # given to the command only


# -- the sandbox of custom commands (its attacks: tests/security/test_sandbox.py) ------------


def command_options(**extra):
    return {"timeout": 60, "idle_timeout": 30, "cancel_event": None, **extra}


def test_a_command_gets_only_the_variables_it_needs(writer, sim, git_repo):
    runners.run_commands(
        ["env"],
        git_repo.path,
        api_key=sim.api_key,
        writer=writer,
        variables={"CIRCLE_SHA1": git_repo.head()},
        **command_options(),
    )
    printed = [text for _, text in texts(writer) if "=" in text and not text.startswith("$")]
    names = {text.split("=", 1)[0] for text in printed}
    herokucd_sets = {"PATH", "HOME", "LANG", "GIT_TERMINAL_PROMPT", "GIT_CONFIG_NOSYSTEM"}
    herokucd_sets |= {"GIT_ASKPASS", "HEROKU_API_KEY", "HEROKU_SKIP_NEW_VERSION_CHECK"}
    herokucd_sets |= {"HEROKU_DISABLE_AUTOUPDATE", "HEROKU_HOST", "HEROKU_DATA_HOST"}
    herokucd_sets |= {"NODE_EXTRA_CA_CERTS", "CIRCLE_SHA1"}
    assert names == herokucd_sets | {"PWD", "SHLVL", "_"}  # the last three: bash's own
    assert "HOME=/home/deploy" in printed


def test_a_canceled_command_leaves_no_process_of_its_sandbox(writer, git_repo):
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    stubborn = "trap '' TERM HUP; sleep 41.7"
    with pytest.raises(runners.CommandCanceled):
        runners.run_commands(
            [f'(setsid bash -c "{stubborn}" &) ; {stubborn}'],
            git_repo.path,
            api_key="key",
            writer=writer,
            **command_options(cancel_event=cancel),
        )
    deadline = time.monotonic() + 3  # the kernel ends a PID namespace with its first process
    while b"sleep\x0041.7\x00" in cmdlines() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert b"sleep\x0041.7\x00" not in cmdlines()


def test_without_a_sandbox_no_command_runs(writer, git_repo, settings):
    settings.BWRAP = str(git_repo.path / "no-bwrap-here")
    with pytest.raises(runners.CommandFailed) as failure:
        runners.run_commands(
            ["touch ran"], git_repo.path, api_key="key", writer=writer, **command_options()
        )
    assert f"bwrap was not found at {settings.BWRAP}" in str(failure.value)
    assert not (git_repo.path / "ran").exists()


def test_the_standalone_heroku_cli_is_on_the_commands_path_too(
    writer, git_repo, settings, tmp_path
):
    program = tmp_path / "heroku" / "bin" / "heroku"  # the layout of Heroku's tarball
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\necho standalone heroku CLI\n")
    program.chmod(0o755)
    settings.HEROKU_CLI = str(program)
    runners.run_commands(
        ["heroku"], git_repo.path, api_key="key", writer=writer, **command_options()
    )
    assert (logformat.STDOUT, "standalone heroku CLI") in texts(writer)


def test_a_cli_folder_holding_herokucds_data_is_not_bound(writer, git_repo, settings):
    settings.HEROKU_CLI = str(Path(settings.DATA_DIR).parent / "bin" / "heroku")
    with pytest.raises(runners.CommandFailed):
        runners.run_commands(
            ["ls -R /opt/heroku-cli"],
            git_repo.path,
            api_key="k",
            writer=writer,
            **command_options(),
        )
    assert not any("field_encryption_keys" in text for _, text in texts(writer))
