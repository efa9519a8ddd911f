"""The rendezvous endpoint for attached one-off dynos (docs/heroku.md §2.7), over TLS.

The client writes the secret (attach_url path without "/", plus query) and "\\r\\n"; we answer
with one handshake chunk the client discards, then stream the process output; the socket
closes when the process ends. Fault route: "RENDEZVOUS" (a status closes the connection).
"""

import contextlib
import socket
import socketserver
import ssl
import time

HANDSHAKE = b"rendezvous\r\n"
FAULT_ROUTE = "RENDEZVOUS"


def _read_secret(conn):
    data = b""
    while b"\r\n" not in data and len(data) < 4096:
        chunk = conn.recv(1024)
        if not chunk:
            return None, b""
        data += chunk
    secret, _, rest = data.partition(b"\r\n")
    return secret.decode(errors="replace").strip(), rest


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sim = self.server.sim
        try:
            conn = self.server.context.wrap_socket(self.request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with conn:
            fault = sim.faults.take(FAULT_ROUTE)
            if fault and fault["status"]:
                return
            self._attach(sim, conn)

    def _attach(self, sim, conn):
        conn.settimeout(30)
        secret, _early_input = _read_secret(conn)
        app, dyno = sim.dynos.find_attachable(secret or "")
        if dyno is None:
            return
        conn.settimeout(None)
        conn.sendall(HANDSHAKE)
        time.sleep(0.05)  # the client discards its first chunk: keep output out of it
        sim.dynos.run(app, dyno, conn.sendall, client=conn)
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)


class RendezvousServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, sim, context, port=0):
        super().__init__(("127.0.0.1", port), _Handler)
        self.sim = sim
        self.context = context
