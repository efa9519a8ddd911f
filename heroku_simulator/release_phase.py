"""Release phase: a Procfile `release:` command run for real on every new release.

`App.add_release` (state.py) hands each new release to `ReleasePhases.start`. When the slug's
commit has a Procfile with a `release` process, the release is `pending` while the command runs
in a one-off dyno (type `release`, with the release's config vars, on its commit's files), then
`succeeded` (exit 0: the app's dynos restart on it and it becomes current) or `failed` (the
previous release stays current). Without one it has succeeded at once and has no output stream.
Heroku's limit of one hour applies (docs/heroku.md §6.1).

The output is served at the release's `output_stream_url`, `/release-output/streams/{id}`, like
Heroku's own (no API key: the URL is the secret), as `text/plain` (resume with
`Range: bytes=N-`) or as `text/event-stream` when asked for (resume with `Last-Event-Id`; each
event's id is the byte offset after it). The stream ends when the release phase has ended and
all of its output was sent.

Fault route "RELEASE-OUTPUT": a `status` answers with it; `drop_after` (bytes) cuts the
connection after that many bytes of output, as a dropped stream.
"""

import re
import secrets
import socket
import subprocess
import threading
import time

from .state import Dyno, now_iso

STREAM_PATH = re.compile(r"^/release-output/streams/(?P<id>[0-9A-Za-z_-]+)$")
FAULT_ROUTE = "RELEASE-OUTPUT"
TIME_LIMIT = 3600  # Heroku stops a release command after one hour
RANGE = re.compile(r"^bytes=(\d+)-$")


def is_stream_path(path):
    return STREAM_PATH.match(path) is not None


def release_command(procfile_text):
    """The command of the Procfile's `release` process, or None."""
    for line in procfile_text.splitlines():
        name, colon, command = line.partition(":")
        if colon and name.strip() == "release" and command.strip():
            return command.strip()
    return None


class ReleasePhases:
    def __init__(self, sim):
        self.sim = sim

    def procfile_command(self, app, release):
        if release.procfile is not None:
            return release_command(release.procfile)
        if not release.commit:
            return None
        shown = self._git(app, "show", f"{release.commit}:Procfile")
        if shown.returncode != 0:
            return None
        return release_command(shown.stdout.decode(errors="replace"))

    def _git(self, app, *args):
        return subprocess.run(
            ["git", f"--git-dir={self.sim.repos.path(app.name)}", *args], capture_output=True
        )

    def _wait_for_commit(self, app, commit, timeout=30):
        """A release made during a push runs once git has moved the pushed objects in."""
        deadline = time.monotonic() + timeout
        while self._git(app, "cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def start(self, app, release):
        """Called with the state lock held, for every new release."""
        command = self.procfile_command(app, release)
        if command is None:
            return
        release.status = "pending"
        release.stream_id = secrets.token_urlsafe(24)
        dyno = Dyno(
            command=command,
            name=f"release.{secrets.randbelow(9000) + 1000}",
            type="release",
            attach=False,
            env=dict(release.config_vars),
            release_id=release.id,
            release_version=release.version,
            time_to_live=TIME_LIMIT,
        )
        dyno.account = release.user_email
        app.dynos.append(dyno)
        threading.Thread(target=self._run, args=(app, release, dyno), daemon=True).start()

    def _run(self, app, release, dyno):
        def sink(chunk):
            with self.sim.state.lock:
                release.output.extend(chunk)
            for line in chunk.decode(errors="replace").splitlines():
                with self.sim.state.lock:
                    app.log(f"app[{dyno.name}]", line)

        with self.sim.state.lock:
            built = release.slug_id in self.sim.state.slug_sources  # a Build API slug's files
        if release.commit and not built and not self._wait_for_commit(app, release.commit):
            sink(f"Error: the simulator has no commit {release.commit}.\n".encode())
            with self.sim.state.lock:
                app.dynos.remove(dyno)
            dyno.exit_status = 1
        else:
            try:
                self.sim.dynos.run(app, dyno, sink)
            except Exception as error:  # the release must end, as Heroku's always does
                sink(
                    f"Error: the release command could not run ({type(error).__name__}).\n".encode()
                )
                dyno.exit_status = 1
        with self.sim.state.lock:
            release.exit_status = dyno.exit_status
            release.status = "succeeded" if dyno.exit_status == 0 else "failed"
            release.updated_at = now_iso()
            summary = f"release phase of v{release.version}: {release.status}"
            self.sim.state.record_event("RELEASE", f"/apps/{app.name}/releases", app.name, summary)
            if release.status == "succeeded" and release is app.current_release:
                self.sim.dynos.restart_formation(app)  # the app's dynos start on it now

    # the output stream

    def find(self, stream_id):
        with self.sim.state.lock:
            for app in self.sim.state.apps:
                for release in app.releases:
                    if release.stream_id and secrets.compare_digest(release.stream_id, stream_id):
                        return release
        return None

    def snapshot(self, release, offset):
        with self.sim.state.lock:
            return bytes(release.output[offset:]), release.status != "pending"


def handle(handler):
    sim = handler.server.sim
    path = handler.path.partition("?")[0]
    release = sim.release_phases.find(STREAM_PATH.match(path)["id"])
    fault = sim.faults.take(FAULT_ROUTE)
    if fault and fault["status"]:
        message = (fault["message"] or "Simulated failure.") + "\n"
        handler.send_bytes(int(fault["status"]), message.encode(), {"Content-Type": "text/plain"})
        return
    if release is None:
        handler.send_bytes(404, b"Not found\n", {"Content-Type": "text/plain"})
        return
    events = "text/event-stream" in handler.headers.get("Accept", "")
    offset = _start(handler, events)
    output, finished = sim.release_phases.snapshot(release, 0)
    if offset is None or (not events and finished and offset and offset >= len(output)):
        # Nothing from there on, and nothing more will come.
        handler.send_bytes(416, b"", {"Content-Range": f"bytes */{len(output)}"})
        return
    drop_after = int(fault["drop_after"]) if fault and fault.get("drop_after") else None
    _serve(handler, sim, release, offset, events, drop_after)


def _start(handler, events):
    """The byte offset to send from, None when a Range is not one we serve."""
    if events:
        last = handler.headers.get("Last-Event-Id", "").strip()
        return int(last) if last.isdigit() else 0
    wanted = handler.headers.get("Range", "").strip()
    if not wanted:
        return 0
    match = RANGE.match(wanted)
    return int(match[1]) if match else None


def _serve(handler, sim, release, offset, events, drop_after):
    handler.close_connection = True
    handler.send_response(206 if offset and not events else 200)
    handler.send_header("Content-Type", "text/event-stream" if events else "text/plain")
    handler.send_header("Cache-Control", "no-cache")
    handler.send_header("Connection", "close")
    handler.end_headers()
    sent = 0
    while not sim.stopping.is_set():
        chunk, finished = sim.release_phases.snapshot(release, offset)
        if drop_after is not None and sent + len(chunk) >= drop_after:
            _write(handler, chunk[: drop_after - sent], offset, events)
            _drop(handler)
            return
        if chunk:
            _write(handler, chunk, offset, events)
            offset += len(chunk)
            sent += len(chunk)
        elif finished:
            return
        else:
            time.sleep(0.05)


def _write(handler, chunk, offset, events):
    if not chunk:
        return
    if events:
        data = "".join(f"data: {line}\n" for line in chunk.decode(errors="replace").split("\n"))
        chunk = f"id: {offset + len(chunk)}\n{data}\n".encode()
    handler.wfile.write(chunk)
    handler.wfile.flush()


def _drop(handler):
    """Cut the connection as a network failure would: no clean end of the answer."""
    handler.wfile.flush()
    handler.connection.shutdown(socket.SHUT_RDWR)
