"""A private git host for tests: `git http-backend` over HTTPS that asks for one user and
token (HTTP Basic), as GitHub does for a private repository."""

import base64
import contextlib
import os
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from heroku_simulator.tls import make_server_context


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self._serve(b"")

    def do_POST(self):
        self._serve(self.rfile.read(int(self.headers.get("Content-Length", 0))))

    def _serve(self, body):
        server = self.server
        server.seen_authorizations.append(self.headers.get("Authorization", ""))
        if self.headers.get("Authorization", "") != f"Basic {server.expected}":
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        time.sleep(server.delay)
        self._backend(body)

    def _backend(self, body):
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        output = subprocess.run(["git", "http-backend"], input=body, capture_output=True, env=env)
        head, _, payload = output.stdout.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name.strip(), value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@contextlib.contextmanager
def private_git_host(root: Path, tls_dir: Path, user: str, token: str):
    """Serve the bare repositories under `root` at https://127.0.0.1:<port>/<name>.git to
    `user`:`token` only; yields the server (`.url`, `.ca_path`, `.seen_authorizations`)."""
    context, ca_path = make_server_context(tls_dir)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    server.root, server.ca_path, server.delay = root, ca_path, 0
    server.expected = base64.b64encode(f"{user}:{token}".encode()).decode()
    server.seen_authorizations = []
    server.url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
