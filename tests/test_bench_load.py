"""The load benchmark's live-log viewers ask as the deploy page does: a 429 is waited out for
its Retry-After and counted apart, a kept-alive connection the server closed is replaced as a
browser replaces it, and every other failure counts as an error. Against a real HTTP server."""

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import load, server


class Answers(BaseHTTPRequestHandler):
    """Plays back `script`: (status, body, close the connection silently after it)."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        status, body, close = self.server.script.pop(0) if self.server.script else (500, b"", 0)
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = bool(close)

    def log_message(self, *args):
        pass


@pytest.fixture
def script():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    httpd.script = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def lines(*numbers):
    return json.dumps({"lines": [[n, 1, "o", 0, f"line {n}"] for n in numbers]}).encode()


def test_a_connection_the_server_closed_while_idle_is_replaced(script):
    script.script += [(200, lines(1), True), (200, lines(2), False)]
    browser = server.Browser(script.server_address[1], "sessionid=x")
    assert browser.get("/log")[0] == 200
    assert browser.get("/log")[:2] == (200, lines(2))


def test_a_viewer_waits_out_429s_and_counts_only_real_errors(script):
    script.script += [
        (429, b'{"error": "busy"}', False),
        (200, lines(1, 2), True),  # then the server closes the kept-alive connection
        (200, lines(3), False),
        (200, b"<html>not a log answer</html>", False),
        (502, b"", False),
    ]
    stop = threading.Event()
    results = {"errors": Counter(), "refused": 0, "reached": []}
    asking = (script.server_address[1], "sessionid=x", "/log", stop, results)
    viewer = threading.Thread(target=load.watcher, args=asking)
    viewer.start()
    while script.script:
        stop.wait(0.01)
    stop.set()
    viewer.join(10)
    assert results["refused"] == 1
    assert results["reached"] == [3]
    errors = results["errors"]
    assert errors["live log: 200 not a live-log answer"] == 1
    assert errors["live log: 502"] == 1
    assert "live log: connection error" not in errors
