"""Dynos: formation dynos (shown as `up`) and one-off dynos that really run `bash -c`.

An attached one-off waits in `starting` until a client opens its rendezvous URL, runs while
the client is connected, then disappears from the API (404) and stays in the recorded runs.
A detached one-off starts right away and writes its output to the app's log lines.
"""

import contextlib
import os
import secrets
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from .builds import extract_slug
from .state import Dyno, now_iso

EOT = b"\x04"


class Formation:
    """Read-only dyno for a formation process (web.1, worker.2): never really runs."""

    def __init__(self, app, item, index):
        release = app.current_release
        self.dyno = Dyno(
            command=item.command,
            name=f"{item.type}.{index}",
            type=item.type,
            attach=False,
            env={},
            release_id=release.id,
            release_version=release.version,
            size=item.size,
            state="up",
        )


class DynoRunner:
    def __init__(self, sim):
        self.sim = sim
        self.formation_dynos = {}

    # formation dynos

    def sync_formation(self, app):
        current = {d.name: d for d in self.formation_dynos.get(app.id, [])}
        dynos = []
        for item in app.formation.values():
            for index in range(1, item.quantity + 1):
                name = f"{item.type}.{index}"
                dyno = current.get(name) or Formation(app, item, index).dyno
                dyno.size = item.size
                dynos.append(dyno)
        self.formation_dynos[app.id] = dynos

    def restart_formation(self, app):
        self.formation_dynos[app.id] = []
        self.sync_formation(app)

    def visible(self, app):
        if app.id not in self.formation_dynos:
            self.sync_formation(app)
        return self.formation_dynos[app.id] + list(app.dynos)

    # one-off dynos

    def create(self, app, body, account):
        release = app.current_release
        dyno_type = str(body.get("type") or "run")
        dyno = Dyno(
            command=body["command"],
            name=f"{dyno_type}.{secrets.randbelow(9000) + 1000}",
            type=dyno_type,
            attach=bool(body.get("attach")),
            env={k: str(v) for k, v in (body.get("env") or {}).items() if v is not None},
            release_id=release.id,
            release_version=release.version,
            time_to_live=body.get("time_to_live"),
            size=str(body.get("size") or "Basic"),
        )
        dyno.account = account.email
        app.dynos.append(dyno)
        if dyno.time_to_live:
            self._expire_at_time_to_live(app, dyno)
        if not dyno.attach:
            threading.Thread(target=self._run_detached, args=(app, dyno), daemon=True).start()
        return dyno

    def _expire_at_time_to_live(self, app, dyno):
        """time_to_live counts from the dyno's creation: then Heroku kills it, attached or not,
        whatever its client does (docs/heroku.md §2.6). A dyno that never started is stopped
        here; a running one is killed by the timer its start sets for the time left."""
        timer = threading.Timer(float(dyno.time_to_live), self._expire_unstarted, (app, dyno))
        timer.daemon = True
        timer.start()

    def _expire_unstarted(self, app, dyno):
        with self.sim.state.lock:
            unstarted = dyno.process is None and dyno in app.dynos
        if unstarted:
            self.stop(app, dyno)

    def find_attachable(self, secret):
        with self.sim.state.lock:
            for app in self.sim.state.apps:
                for dyno in app.dynos:
                    if dyno.attach and dyno.secret == secret and dyno.process is None:
                        dyno.process = "claimed"
                        return app, dyno
        return None, None

    def stop(self, app, dyno):
        if dyno.process is None:
            dyno.process = "stopped"
            self._finish(app, dyno, None)
        elif hasattr(dyno.process, "pid"):
            _kill_group(dyno.process)
        elif dyno in self.formation_dynos.get(app.id, []):
            self.formation_dynos[app.id].remove(dyno)
            self.sync_formation(app)

    def stop_all(self):
        for app in self.sim.state.apps:
            for dyno in list(app.dynos):
                if hasattr(dyno.process, "pid"):
                    _kill_group(dyno.process)
        self.formation_dynos.clear()

    # running

    def _run_detached(self, app, dyno):
        def sink(chunk):
            for line in chunk.decode(errors="replace").splitlines():
                with self.sim.state.lock:
                    app.log(f"app[{dyno.name}]", line)

        self.run(app, dyno, sink)

    def run(self, app, dyno, sink, client=None):
        """Run the dyno's command to the end; stream its combined output to `sink`."""
        workdir = tempfile.mkdtemp(prefix=f"heroku-sim-{dyno.name}-")
        try:
            process = self._spawn(app, dyno, workdir)
            self._pump(dyno, process, sink, client)
            status = process.wait()
        except OSError as error:
            sink(f"Error: {error}\n".encode())
            status = 1
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        self._finish(app, dyno, status)

    def _spawn(self, app, dyno, workdir):
        with self.sim.state.lock:
            release = next(r for r in app.releases if r.id == dyno.release_id)
            env = self._environment(app, dyno, workdir)
            app.log(f"heroku[{dyno.name}]", f"Starting process with command `{dyno.command}`")
            app.log(f"heroku[{dyno.name}]", "State changed from starting to up")
            dyno.state, dyno.updated_at = "up", now_iso()
        slug_source = self.sim.state.slug_sources.get(release.slug_id)
        if slug_source is not None:  # a Build API slug: the uploaded files
            extract_slug(slug_source, workdir)
        elif release.commit:
            self.sim.repos.archive(app.name, release.commit, workdir)
        process = subprocess.Popen(
            ["bash", "-c", dyno.command],
            cwd=workdir,
            env=env,
            start_new_session=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        dyno.process = process
        if dyno.time_to_live:
            left = max(0.0, dyno.expires_at - time.monotonic())
            timer = threading.Timer(left, _kill_group, args=(process,))
            timer.daemon = True
            timer.start()
        return process

    @staticmethod
    def _environment(app, dyno, workdir):
        base = {k: os.environ[k] for k in ("PATH", "LANG", "TZ") if k in os.environ}
        return {
            **base,
            "HOME": workdir,
            "DYNO": dyno.name,
            "PORT": "5000",
            **app.config_vars,
            **dyno.env,
        }

    def _pump(self, dyno, process, sink, client):
        out = process.stdout.fileno()
        if client is None:
            process.stdin.close()
        watched = [out] + ([client] if client is not None else [])
        while True:
            ready = _ready(watched, client)
            if out in ready:
                chunk = os.read(out, 65536)
                if not chunk:
                    return
                dyno.output += chunk.decode(errors="replace")
                _send(sink, chunk)
            if client is not None and client in ready and not _forward_stdin(client, process):
                watched = [out]
                client = None

    def _finish(self, app, dyno, status):
        with self.sim.state.lock:
            dyno.exit_status = status
            dyno.state = "down"
            dyno.finished_at = now_iso()
            if status is not None:
                app.log(f"heroku[{dyno.name}]", f"Process exited with status {status}")
            app.log(f"heroku[{dyno.name}]", "State changed from up to complete")
            if dyno in app.dynos:
                app.dynos.remove(dyno)
            app.finished_dynos.append(dyno)
            self.sim.state.record_event(
                "RUN",
                f"/apps/{app.name}/dynos/{dyno.name}",
                app.name,
                f"{dyno.name} `{dyno.command}` exited with status {status}",
            )


def _ready(watched, client):
    pending = [client] if client is not None and client.pending() else []
    if pending:
        return pending + select.select(watched, [], [], 0)[0]
    return select.select(watched, [], [], 1.0)[0]


def _send(sink, chunk):
    # a client that went away does not stop the dyno, as on Heroku
    with contextlib.suppress(OSError):
        sink(chunk)


def _forward_stdin(client, process):
    """Copy client bytes to stdin; EOT or a closed socket ends stdin. False when done."""
    try:
        data = client.recv(65536)
    except OSError:
        data = b""
    head, eot, _ = data.partition(EOT)
    try:
        if head:
            process.stdin.write(head)
            process.stdin.flush()
        if eot or not data:
            process.stdin.close()
    except OSError:
        return False
    return bool(data) and not eot


def _kill_group(process):
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False
