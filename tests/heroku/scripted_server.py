"""A local HTTP server that answers from a script and records what it was sent.

For what the simulator cannot show: the exact request headers, and Retry-After handling.
"""

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        server = self.server
        server.requests.append(dict(self.headers))
        status, headers, body = server.script.pop(0) if server.script else (200, {}, {})
        payload = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass  # keep test output quiet


@contextmanager
def scripted_server(script):
    """Serve `script`, a list of (status, headers, json body), one per request."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.script, server.requests = list(script), []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
