"""The simulator: one HTTP server (Platform API, data API, git, log sessions, control)
plus the TLS rendezvous server, all over a shared SimState."""

import json
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from . import api, builds, control, data_api, git, logs, pipelines, release_phase, router
from .dynos import DynoRunner
from .faults import Faults
from .limits import RollingWindow, TokenBuckets
from .rendezvous import RendezvousServer
from .state import SimState
from .tls import make_server_context

data_api.register(api.router)
builds.register(api.router)
pipelines.register(api.router)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: with Nagle's algorithm, the body of the second
    # request on a kept-alive connection waited for the client's delayed ACK (40 ms).
    disable_nagle_algorithm = True
    server_version = "heroku-sim"
    sys_version = ""

    def log_message(self, format, *args):
        if self.server.sim.verbose:
            super().log_message(format, *args)

    def read_body(self):
        if getattr(self, "_body", None) is not None:
            return self._body
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self._body = self._read_chunked()
        else:
            self._body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        return self._body

    def _read_chunked(self):
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def send_bytes(self, status, payload, headers=None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def send_json(self, status, body, headers=None):
        payload = json.dumps(body).encode()
        self.send_bytes(status, payload, {"Content-Type": "application/json", **(headers or {})})

    def start_stream(self, content_type):
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()

    def dispatch(self):
        self._body = None
        path = self.path.partition("?")[0]
        try:
            if path.startswith("/__sim__/"):
                control.handle(self)
            elif git.is_git_path(path):
                git.handle(self)
            elif logs.is_log_path(path):
                logs.handle(self)
            elif builds.is_blob_path(path):
                builds.handle_blob(self)
            elif builds.is_stream_path(path):
                builds.handle_stream(self)
            elif release_phase.is_stream_path(path):
                release_phase.handle(self)
            else:
                router.handle(self, api.router)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = dispatch


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Simulator:
    def __init__(self, seed, port=0, data_dir=None, verbose=False):
        self.verbose = verbose
        self._tmp = None if data_dir else tempfile.TemporaryDirectory(prefix="heroku-sim-")
        self.data_dir = Path(data_dir or self._tmp.name)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.stopping = threading.Event()
        self.state = SimState(seed)
        self.faults = Faults()
        self.dynos = DynoRunner(self)
        self.release_phases = release_phase.ReleasePhases(self)
        self.state.hook_releases(self.release_phases.start)
        self.repos = git.Repos(self.data_dir)
        self._reset_runtime()
        context, self.ca_path = make_server_context(self.data_dir)
        self.http = _HTTPServer(("127.0.0.1", port), Handler)
        self.http.sim = self
        self.rendezvous = RendezvousServer(self, context)

    def _reset_runtime(self):
        limits = self.state.api_rate_limit
        self.api_limits = TokenBuckets(limits["capacity"], limits["per_minute"])
        git_limits = self.state.git_rate_limit
        self.git_limits = RollingWindow(git_limits["requests"], git_limits["window_seconds"])
        self.log_sessions = {}
        self.repos.create_all([app.name for app in self.state.apps])

    @property
    def port(self):
        return self.http.server_address[1]

    @property
    def api_url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def rendezvous_host(self):
        return f"127.0.0.1:{self.rendezvous.server_address[1]}"

    def ready_line(self):
        return (
            f"heroku-sim ready api={self.api_url} git={self.api_url} "
            f"rendezvous={self.rendezvous_host} ca={self.ca_path}"
        )

    def start(self):
        for server in (self.http, self.rendezvous):
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def reset(self):
        with self.state.lock:
            self.dynos.stop_all()
            self.faults.clear()
            self.state.load()
            self._reset_runtime()

    def stop(self):
        self.stopping.set()
        with self.state.lock:
            self.dynos.stop_all()
        for server in (self.http, self.rendezvous):
            server.shutdown()
            server.server_close()
        if self._tmp:
            self._tmp.cleanup()
