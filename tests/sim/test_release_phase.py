"""The simulator's release phase: a Procfile `release:` command run for real on every new
release, its status, and its output stream, as Heroku serves them (docs/heroku.md §6.1)."""

import socket
import time
from urllib.parse import urlsplit

import pytest
import requests

from heroku_simulator.release_phase import release_command
from tests.heroku_sim.fixtures import APP
from tests.sim.test_git import git, push
from tests.sim.test_schema import SCHEMA, _link_for, _target_schema, _validate

pytestmark = pytest.mark.slow

RELEASE_SH = (
    'echo "Migrating $GREETING on $DYNO"\nsleep ${PAUSE:-0.3}\necho "Migrated"\nexit ${CODE:-0}\n'
)


def commit(repo, procfile, message="a commit"):
    (repo / "Procfile").write_text(procfile)
    (repo / "release.sh").write_text(RELEASE_SH)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path):
    return new_repo(tmp_path)


def new_repo(tmp_path):
    """An app repository whose Procfile runs release.sh in the release phase."""
    path = tmp_path / "app"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    commit(path, "web: gunicorn app.wsgi\nrelease: bash release.sh\n", "first")
    return path


def newest(sim):
    return sim.api("GET", f"/apps/{APP}/releases").json()[-1]


def settle(sim, timeout=10):
    """The newest release once it has left `pending`."""
    deadline = time.monotonic() + timeout
    while (release := newest(sim))["status"] == "pending":
        assert time.monotonic() < deadline, "the release phase did not end"
        time.sleep(0.05)
    return release


def valid_release(body):
    name, link = _link_for("GET", f"/apps/{APP}/releases/1")
    _validate(body, _target_schema(name, link))


def test_the_procfile_release_process_is_read():
    assert release_command("web: x\nrelease:  python manage.py migrate \n") == (
        "python manage.py migrate"
    )
    assert release_command("web: x\n# release: no\n") is None
    assert release_command("releaser: x\n") is None


def test_a_push_makes_a_pending_release_that_runs_the_command_and_succeeds(heroku_sim, repo):
    heroku_sim.api("PATCH", f"/apps/{APP}/config-vars", json={"GREETING": "hello"})
    before = settle(heroku_sim)
    assert push(heroku_sim, repo).returncode == 0
    release = newest(heroku_sim)
    assert release["status"] == "pending" and release["current"] is False
    valid_release(release)
    assert release["output_stream_url"].startswith(heroku_sim.api_url + "/release-output/")
    # Meanwhile the app runs the release before it.
    current = next(r for r in heroku_sim.api("GET", f"/apps/{APP}/releases").json() if r["current"])
    assert current["id"] == before["id"]
    done = settle(heroku_sim)
    assert done["status"] == "succeeded" and done["current"] is True
    valid_release(done)
    output = requests.get(done["output_stream_url"], timeout=10)
    assert output.headers["Content-Type"] == "text/plain"
    assert output.text.startswith("Migrating hello on release.")
    assert output.text.endswith("Migrated\n")
    app = heroku_sim.app_state()
    assert app["current_commit"] == git(repo, "rev-parse", "HEAD").stdout.strip()
    assert any(line.endswith("Migrated") and "app[release." in line for line in app["logs"])


def test_a_failed_release_phase_leaves_the_release_before_it_current(heroku_sim, repo):
    assert push(heroku_sim, repo).returncode == 0
    good, good_sha = settle(heroku_sim), git(repo, "rev-parse", "HEAD").stdout.strip()
    commit(repo, "web: gunicorn app.wsgi\nrelease: CODE=3 bash release.sh\n", "breaks")
    assert push(heroku_sim, repo).returncode == 0
    failed = settle(heroku_sim)
    assert failed["status"] == "failed" and failed["current"] is False
    valid_release(failed)
    releases = heroku_sim.api("GET", f"/apps/{APP}/releases").json()
    assert [r["version"] for r in releases if r["current"]] == [good["version"]]
    app = heroku_sim.app_state()
    assert app["releases"][-1]["exit_status"] == 3
    assert app["current_commit"] == good_sha
    dynos = heroku_sim.api("GET", f"/apps/{APP}/dynos").json()
    assert {d["release"]["version"] for d in dynos if d["type"] == "web"} == {good["version"]}


def test_without_a_release_process_a_release_succeeds_at_once_without_a_stream(heroku_sim, repo):
    commit(repo, "web: gunicorn app.wsgi\n", "no release phase")
    assert push(heroku_sim, repo).returncode == 0
    release = newest(heroku_sim)
    assert release["status"] == "succeeded" and release["current"] is True
    assert release["output_stream_url"] is None
    valid_release(release)


@pytest.mark.parametrize(
    "change",
    [
        ("PATCH", f"/apps/{APP}/config-vars", {"GREETING": "config"}),
        ("POST", f"/apps/{APP}/releases", {"release": "{previous}"}),
        ("POST", f"/apps/{APP}/releases", {"slug": "{slug}"}),
    ],
    ids=["config var change", "rollback", "release of a slug"],
)
def test_every_new_release_runs_the_release_phase(heroku_sim, repo, change):
    assert push(heroku_sim, repo).returncode == 0
    pushed = settle(heroku_sim)
    method, path, body = change
    values = {"previous": pushed["id"], "slug": pushed["slug"]["id"]}
    body = {k: v.format(**values) for k, v in body.items()}
    answer = heroku_sim.api(method, path, json=body)
    assert answer.status_code < 300, answer.text
    release = newest(heroku_sim)
    assert release["version"] == pushed["version"] + 1
    assert release["status"] == "pending"
    done = settle(heroku_sim)
    assert done["status"] == "succeeded"
    assert "Migrated" in requests.get(done["output_stream_url"], timeout=10).text


def test_the_stream_follows_the_output_live_and_resumes_with_range(heroku_sim, repo):
    heroku_sim.api("PATCH", f"/apps/{APP}/config-vars", json={"PAUSE": "1.5"})
    assert push(heroku_sim, repo).returncode == 0
    url = newest(heroku_sim)["output_stream_url"]
    with requests.get(url, stream=True, timeout=10) as live:
        first = live.raw.read1(65536)
        assert first.startswith(b"Migrating")
        assert newest(heroku_sim)["status"] == "pending"  # it came while the command ran
        rest = live.raw.read()
    whole = first + rest
    assert whole.endswith(b"Migrated\n")
    resumed = requests.get(url, headers={"Range": "bytes=5-"}, timeout=10)
    assert resumed.status_code == 206 and resumed.content == whole[5:]
    past = requests.get(url, headers={"Range": f"bytes={len(whole) + 1}-"}, timeout=10)
    assert past.status_code == 416


def test_the_stream_as_server_sent_events_resumes_with_last_event_id(heroku_sim, repo):
    assert push(heroku_sim, repo).returncode == 0
    url = settle(heroku_sim)["output_stream_url"]
    whole = requests.get(url, timeout=10).text
    events = requests.get(url, headers={"Accept": "text/event-stream"}, timeout=10)
    assert events.headers["Content-Type"] == "text/event-stream"
    first = events.text.split("\n\n")[0].splitlines()
    assert first[0] == f"id: {len(whole.encode())}"
    assert [line.removeprefix("data: ") for line in first[1:]] == whole.split("\n")
    again = requests.get(
        url, headers={"Accept": "text/event-stream", "Last-Event-Id": "5"}, timeout=10
    ).text.splitlines()
    assert again[0] == f"id: {len(whole.encode())}"
    assert again[1] == "data: " + whole[5:].split("\n")[0]


def test_a_stream_fault_cuts_the_connection_mid_way(heroku_sim, repo):
    assert push(heroku_sim, repo).returncode == 0
    url = settle(heroku_sim)["output_stream_url"]
    whole = requests.get(url, timeout=10).content
    heroku_sim.fault("RELEASE-OUTPUT", drop_after=7, count=1)
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"GET {parts.path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.partition(b"\r\n\r\n")[2] == whole[:7]
    assert requests.get(url, timeout=10).content == whole  # the next connection is whole


def test_an_unknown_stream_is_not_found(heroku_sim):
    assert (
        requests.get(heroku_sim.api_url + "/release-output/streams/nope", timeout=10).status_code
        == 404
    )


def test_the_schema_allows_what_the_release_phase_answers():
    statuses = SCHEMA["definitions"]["release"]["definitions"]["status"]["enum"]
    assert {"pending", "succeeded", "failed"} <= set(statuses)
