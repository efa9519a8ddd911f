"""The dashboard under uvicorn, as the web process serves it (ASGI), in a thread of the test
process: it reads the test database, and the live log streams (deploys/stream.py) stream."""

import socket
import threading
import time

import pytest


class AsgiServer:
    def __init__(self):
        import uvicorn
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

        from herokucd.asgi import application

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            ASGIStaticFilesHandler(application),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="asgi-server")

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc_info):
        self.server.should_exit = True
        self.server.force_exit = True  # open streams do not hold the test up
        self.thread.join(10)
        from django.db import connections

        from deploys import stream

        stream.release_connections()  # the test database can then be dropped
        connections.close_all()


@pytest.fixture
def asgi_server(transactional_db):
    from django.db import connections

    # As herokucd/asgi.py has it in the web process: no connection kept after a request.
    database = connections.settings["default"]
    kept, database["CONN_MAX_AGE"] = database["CONN_MAX_AGE"], 0
    try:
        with AsgiServer() as server:
            yield server
    finally:
        database["CONN_MAX_AGE"] = kept
