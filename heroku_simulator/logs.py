"""Log sessions: the logplex_url returned by POST /apps/{app}/log-sessions, served as SSE."""

import re
import time

SESSION_PATH = re.compile(r"^/sessions/(?P<id>[0-9a-f-]+)$")


def is_log_path(path):
    return SESSION_PATH.match(path) is not None


def _matches(entry, session):
    if session["dyno"] and not entry["source"].endswith(f"[{session['dyno']}]"):
        return False
    return not session["source"] or entry["source"].startswith(session["source"])


def _lines(sim, session, start):
    with sim.state.lock:
        app = sim.state.find_app(session["app"])
        entries = app.logs[start:] if app else []
        total = len(app.logs) if app else 0
    return [e["line"] for e in entries if _matches(e, session)], total


def _event(number, line):
    return f"id: {number}\ndata: {line}\n\n".encode()


def handle(handler):
    sim = handler.server.sim
    path = handler.path.partition("?")[0]
    session = sim.log_sessions.get(SESSION_PATH.match(path)["id"])
    if session is None:
        handler.send_bytes(404, b"Not found\n", {"Content-Type": "text/plain"})
        return
    handler.start_stream("text/event-stream")
    lines, seen = _lines(sim, session, 0)
    sent = 0
    for line in lines[-session["lines"] :]:
        sent += 1
        handler.wfile.write(_event(sent, line))
    handler.wfile.flush()
    while session["tail"] and not sim.stopping.is_set():
        time.sleep(0.1)
        lines, seen = _lines(sim, session, seen)
        for line in lines:
            sent += 1
            handler.wfile.write(_event(sent, line))
        handler.wfile.flush()
