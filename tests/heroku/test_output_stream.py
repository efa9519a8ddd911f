"""`HerokuClient.output_stream`: a release's output stream read as Heroku serves it (docs/heroku.md
§6.1), through herokucd/http.py's policy, never with the API key."""

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from herokucd.heroku import Forbidden, HerokuClient, NotFound, StreamIdle


class StreamHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        server = self.server
        server.requests.append(dict(self.headers))
        status, body, pause = server.script.pop(0)
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Connection", "close")
        self.end_headers()
        for part in body:
            self.wfile.write(part)
            self.wfile.flush()
            server.sent.wait(pause)

    def log_message(self, *args):
        pass


@pytest.fixture
def stream_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StreamHandler)
    server.script, server.requests, server.sent = [], [], threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/streams/abc"
    yield server
    server.sent.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def client():
    with HerokuClient("HRKU-secret-key-for-the-api") as client:
        yield client


def test_it_reads_the_stream_as_it_comes_without_the_api_key(stream_server, client):
    stream_server.script = [(200, [b"line one\n", b"line two\n"], 0)]
    assert b"".join(client.output_stream(stream_server.url)) == b"line one\nline two\n"
    sent = stream_server.requests[0]
    assert "Authorization" not in sent and "HRKU-secret" not in str(sent)
    assert "Range" not in sent


def test_it_resumes_with_range_and_skips_what_a_server_sends_again(stream_server, client):
    stream_server.script = [(206, [b"two\n"], 0), (200, [b"line ", b"one\ntwo\n"], 0)]
    assert b"".join(client.output_stream(stream_server.url, offset=9)) == b"two\n"
    assert stream_server.requests[0]["Range"] == "bytes=9-"
    # A server that ignores Range sends it all again: the first 5 bytes are not repeated.
    assert b"".join(client.output_stream(stream_server.url, offset=5)) == b"one\ntwo\n"


def test_nothing_more_after_the_end_is_an_empty_stream(stream_server, client):
    stream_server.script = [(416, [], 0)]
    assert list(client.output_stream(stream_server.url, offset=20)) == []


def test_a_stream_not_started_yet_is_not_found(stream_server, client):
    stream_server.script = [(404, [b"Not found\n"], 0)]
    with pytest.raises(NotFound, match="has not started yet"):
        list(client.output_stream(stream_server.url))


def test_a_silent_stream_is_given_up_after_its_idle_timeout(stream_server, client):
    stream_server.script = [(200, [b"first\n", b"late\n"], 5)]
    chunks = []
    with pytest.raises(StreamIdle):
        for chunk in client.output_stream(stream_server.url, idle_timeout=0.5):
            chunks.append(chunk)
    assert chunks == [b"first\n"]


def test_an_internal_address_is_refused_unless_allowed(stream_server, client, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    with pytest.raises(Forbidden, match=re.escape("127.0.0.1 is a loopback address")):
        list(client.output_stream(stream_server.url))
    assert stream_server.requests == []
