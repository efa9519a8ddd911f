"""The deploy engine's fixtures (a project deploying to the simulator) and real cache servers."""

import http.server
import threading

import pytest

from tests.cache_servers import app_redis, memcached, sasl_memcached, tls_redis  # noqa: F401
from tests.deploys.conftest import credential, environment, queue, redis_up, sim  # noqa: F401


class Server(http.server.ThreadingHTTPServer):
    """Answers GET and POST with `status` and `body`, or redirects to `location`; counts hits."""

    def __init__(self, host="127.0.0.1", status=200, body=b"all good", location=None):
        super().__init__((host, 0), Handler)
        self.status, self.body, self.location = status, body, location
        self.requests = []
        self.url = f"http://{host}:{self.server_address[1]}/health"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(dict(self.headers))
        if self.server.location:
            self.send_response(302)
            self.send_header("Location", self.server.location)
            self.end_headers()
            return
        self.send_response(self.server.status)
        self.end_headers()
        try:
            for start in range(0, len(self.server.body), 65536):
                self.wfile.write(self.server.body[start : start + 65536])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: what the cap is for

    do_POST = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    servers = []

    def start(**options):
        server = Server(**options)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
