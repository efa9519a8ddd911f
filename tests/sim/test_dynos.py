"""One-off dynos through the rendezvous protocol over TLS, verified against the sim's CA."""

import socket
import ssl
import subprocess
import time
from urllib.parse import urlsplit

import pytest

from tests.heroku_sim.fixtures import APP
from tests.sim.test_git import git, push

pytestmark = pytest.mark.slow
EXIT_MARKER = '; echo "\uffff heroku-command-exit-status: $?"'


def run_dyno(sim, command, **body):
    response = sim.api(
        "POST", f"/apps/{APP}/dynos", json={"command": command, "attach": True, **body}
    )
    assert response.status_code == 201, response.text
    return response.json()


def attach(sim, dyno, stdin=b"", timeout=20):
    """Speak the rendezvous protocol; return (handshake, output)."""
    url = urlsplit(dyno["attach_url"])
    context = ssl.create_default_context(cafile=sim.ca_path)
    raw = socket.create_connection((url.hostname, url.port), timeout=timeout)
    with raw, context.wrap_socket(raw, server_hostname=url.hostname) as conn:
        conn.sendall(
            url.path[1:].encode() + (f"?{url.query}".encode() if url.query else b"") + b"\r\n"
        )
        handshake = conn.recv(4096)
        if stdin:
            conn.sendall(stdin)
        chunks = []
        while chunk := conn.recv(4096):
            chunks.append(chunk)
    return handshake, b"".join(chunks).decode()


def test_it_streams_the_output_of_an_attached_dyno(heroku_sim):
    dyno = run_dyno(heroku_sim, "echo hello; echo oops >&2")
    assert dyno["attach_url"].startswith(f"rendezvous://{heroku_sim.rendezvous}/")
    assert dyno["state"] == "starting"
    handshake, output = attach(heroku_sim, dyno)
    assert handshake == b"rendezvous\r\n"
    assert output == "hello\noops\n"


def test_it_passes_the_exit_status_marker_through(heroku_sim):
    _handshake, output = attach(heroku_sim, run_dyno(heroku_sim, "(exit 3)" + EXIT_MARKER))
    assert output == "\uffff heroku-command-exit-status: 3\n"
    runs = heroku_sim.app_state()["dynos"]
    assert runs[-1]["exit_status"] == 0  # the echo ran last, as on Heroku


def test_it_records_the_run_and_forgets_the_dyno(heroku_sim):
    dyno = run_dyno(heroku_sim, "echo recorded; exit 4")
    attach(heroku_sim, dyno)
    run = heroku_sim.app_state()["dynos"][-1]
    assert (run["command"], run["exit_status"], run["output"]) == (
        "echo recorded; exit 4",
        4,
        "recorded\n",
    )
    assert heroku_sim.api("GET", f"/apps/{APP}/dynos/{dyno['name']}").status_code == 404


def test_it_gives_the_dyno_config_vars_and_request_env(heroku_sim):
    heroku_sim.api("PATCH", f"/apps/{APP}/config-vars", json={"SECRET_THING": "s3"})
    dyno = run_dyno(heroku_sim, "echo $SECRET_THING $EXTRA $DATABASE_URL", env={"EXTRA": "x"})
    _, output = attach(heroku_sim, dyno)
    config = heroku_sim.api("GET", f"/apps/{APP}/config-vars").json()
    assert output == f"s3 x {config['DATABASE_URL']}\n"


def test_it_pipes_stdin_until_eot(heroku_sim):
    _, output = attach(heroku_sim, run_dyno(heroku_sim, "cat; echo done"), stdin=b"typed\n\x04")
    assert output == "typed\ndone\n"


def test_it_kills_a_dyno_at_its_time_to_live(heroku_sim):
    started = time.monotonic()
    dyno = run_dyno(heroku_sim, "echo started; sleep 30; echo never", time_to_live=1)
    _, output = attach(heroku_sim, dyno)
    assert output == "started\n"
    assert time.monotonic() - started < 10
    assert heroku_sim.app_state()["dynos"][-1]["exit_status"] == -9


def finished_run(sim, dyno, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = next(r for r in sim.app_state()["dynos"] if r["id"] == dyno["id"])
        if run["state"] == "down":
            return run
        time.sleep(0.05)
    raise AssertionError(f"{dyno['name']} still runs after {timeout} s")


def test_a_dyno_whose_client_went_away_is_killed_at_its_time_to_live(heroku_sim):
    """A worker that dies mid-migration: its connection goes, the dyno does not; only its
    time_to_live, counted from its creation, ends it."""
    started = time.monotonic()
    dyno = run_dyno(heroku_sim, "echo migrating; sleep 60; echo done", time_to_live=2)
    url = urlsplit(dyno["attach_url"])
    context = ssl.create_default_context(cafile=heroku_sim.ca_path)
    raw = socket.create_connection((url.hostname, url.port), timeout=20)
    with context.wrap_socket(raw, server_hostname=url.hostname) as conn:
        conn.sendall(url.path[1:].encode() + b"\r\n")
        conn.recv(4096)
        assert conn.recv(4096) == b"migrating\n"
    # the connection is gone: nothing stops the dyno but its time_to_live
    assert heroku_sim.api("GET", f"/apps/{APP}/dynos/{dyno['id']}").json()["state"] == "up"
    run = finished_run(heroku_sim, dyno)
    assert 1.5 < time.monotonic() - started < 10
    assert (run["exit_status"], run["output"]) == (-9, "migrating\n")


def test_an_attached_dyno_nobody_attaches_to_is_stopped_at_its_time_to_live(heroku_sim):
    """The worker died between creating the dyno and attaching to it."""
    dyno = run_dyno(heroku_sim, "echo never started", time_to_live=1)
    run = finished_run(heroku_sim, dyno)
    assert (run["exit_status"], run["output"]) == (None, "")
    assert heroku_sim.api("GET", f"/apps/{APP}/dynos/{dyno['id']}").status_code == 404
    assert attach(heroku_sim, dyno) == (b"", "")


@pytest.mark.parametrize("ttl", [0, 86401, 1.5, "60", True])
def test_it_refuses_a_time_to_live_outside_the_schema(heroku_sim, ttl):
    response = heroku_sim.api(
        "POST", f"/apps/{APP}/dynos", json={"command": "true", "time_to_live": ttl}
    )
    assert response.status_code == 422
    assert response.json()["message"] == "time_to_live must be between 1 and 86400."


def test_it_stops_a_running_dyno(heroku_sim):
    dyno = run_dyno(heroku_sim, "echo up; sleep 30")
    url = urlsplit(dyno["attach_url"])
    context = ssl.create_default_context(cafile=heroku_sim.ca_path)
    with context.wrap_socket(
        socket.create_connection((url.hostname, url.port), timeout=20), server_hostname=url.hostname
    ) as conn:
        conn.sendall(url.path[1:].encode() + b"\r\n")
        conn.recv(4096)
        assert conn.recv(4096) == b"up\n"
        assert heroku_sim.api("GET", f"/apps/{APP}/dynos/{dyno['id']}").json()["state"] == "up"
        stop = heroku_sim.api("POST", f"/apps/{APP}/dynos/{dyno['name']}/actions/stop")
        assert stop.status_code == 202
        assert conn.recv(4096) == b""
    assert heroku_sim.app_state()["dynos"][-1]["exit_status"] == -9


def test_it_refuses_an_unknown_rendezvous_secret(heroku_sim):
    dyno = run_dyno(heroku_sim, "echo hi")
    dyno["attach_url"] = dyno["attach_url"].rsplit("/", 1)[0] + "/wrong"
    assert attach(heroku_sim, dyno) == (b"", "")


def test_it_drops_a_rendezvous_connection_on_a_fault(heroku_sim):
    heroku_sim.fault("RENDEZVOUS", status=500, count=1)
    dyno = run_dyno(heroku_sim, "echo hi")
    assert attach(heroku_sim, dyno) == (b"", "")
    assert attach(heroku_sim, dyno)[1] == "hi\n"


def test_it_runs_a_detached_dyno_into_the_logs(heroku_sim):
    dyno = run_dyno(heroku_sim, "echo in the background", attach=False)
    assert dyno["attach_url"] is None
    for _ in range(100):
        runs = heroku_sim.app_state()["dynos"]
        if runs and runs[-1]["exit_status"] is not None:
            break
        time.sleep(0.05)
    session = heroku_sim.api(
        "POST", f"/apps/{APP}/log-sessions", json={"dyno": dyno["name"], "lines": 20}
    ).json()
    stream = heroku_sim.http.get(session["logplex_url"], timeout=10).text
    assert f"app[{dyno['name']}]: in the background" in stream
    assert "Process exited with status 0" in stream
    assert stream.startswith("id: 1\ndata: ")


def test_it_runs_a_migration_script_from_the_pushed_release(heroku_sim, tmp_path):
    repo = tmp_path / "app"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "migrate.sh").write_text('echo "migrating $DATABASE_URL" | cut -c1-20\nexit 0\n')
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "migration")
    assert push(heroku_sim, repo).returncode == 0
    _, output = attach(heroku_sim, run_dyno(heroku_sim, "bash migrate.sh" + EXIT_MARKER))
    assert output == "migrating postgres:/\n\uffff heroku-command-exit-status: 0\n"
    assert run_dyno(heroku_sim, "true")["release"]["version"] == 4


def test_formation_dynos_show_up(heroku_sim):
    names = sorted(d["name"] for d in heroku_sim.api("GET", f"/apps/{APP}/dynos").json())
    assert names == ["web.1", "worker.1", "worker.2"]
    assert subprocess  # keeps the import for helpers used by other modules
