"""Control endpoints under /__sim__/ (no Heroku auth; 127.0.0.1 clients only).

GET  /__sim__/state           everything the simulator knows, incl. time-ordered `events`
POST /__sim__/faults          {"route": "PATCH /apps/{app}", "status": 503, "count": 2}
                              or {"route": ..., "delay": 5}; GET lists, DELETE clears
POST /__sim__/reset           back to the seeded state
POST /__sim__/internal/push   used by the repositories' pre-receive hook
"""

import json

from .builds import release_commit
from .state import now_iso


def _dyno_run(dyno):
    return {
        "id": dyno.id,
        "name": dyno.name,
        "command": dyno.command,
        "attach": dyno.attach,
        "env": dyno.env,
        "state": dyno.state,
        "exit_status": dyno.exit_status,
        "output": dyno.output,
        "time_to_live": dyno.time_to_live,
        "created_at": dyno.created_at,
        "finished_at": getattr(dyno, "finished_at", None),
    }


def _release(release, current):
    return {
        "id": release.id,
        "version": release.version,
        "description": release.description,
        "commit": release.commit,
        "slug_id": release.slug_id,
        "user": release.user_email,
        "created_at": release.created_at,
        "current": release is current,
        "status": release.status,
        "exit_status": release.exit_status,
        "output": release.output.decode(errors="replace"),
    }


def _build(build):
    return {
        "id": build.id,
        "status": build.status,
        "version": build.version,
        "canceled": build.canceled.is_set(),
        "release_id": build.release_id,
        "output": build.output.decode(errors="replace"),
    }


def _app(app):
    return {
        "id": app.id,
        "name": app.name,
        "owner": app.owner,
        "collaborators": app.collaborators,
        "maintenance": app.maintenance,
        "web_url": app.web_url,
        "formation": {
            t: {"quantity": f.quantity, "size": f.size, "command": f.command}
            for t, f in app.formation.items()
        },
        "config_vars": dict(app.config_vars),
        "releases": [_release(r, app.current_release) for r in app.releases],
        "current_commit": app.current_release.commit if app.current_release else None,
        "pushes": list(app.pushes),
        "builds": [_build(b) for b in app.builds],
        "dynos": [_dyno_run(d) for d in app.finished_dynos + app.dynos],
        "backups": [{k: v for k, v in b.items() if not k.startswith("_")} for b in app.backups],
        "addons": [{"id": a.id, "name": a.name, "plan": a.plan} for a in app.addons],
        "logs": [e["line"] for e in app.logs],
    }


def snapshot(sim):
    state = sim.state
    with state.lock:
        emails = {a.id: a.email for a in state.accounts}
        return {
            "accounts": [{"id": a.id, "email": a.email} for a in state.accounts],
            "apps": [_app(a) for a in state.apps],
            "keys": [
                {
                    "id": k.id,
                    "email": emails.get(k.account_id),
                    "fingerprint": k.fingerprint,
                    "public_key": k.public_key,
                    "comment": k.comment,
                }
                for k in state.keys
            ],
            "events": sorted(state.events, key=lambda e: e["timestamp"]),
            "faults": sim.faults.list(),
        }


def _record_push(sim, push):
    """Called by the pre-receive hook; a released push makes a release of that commit."""
    with sim.state.lock:
        app = sim.state.find_app(push["app"])
        procfile = push.pop("procfile", None)
        record = {**push, "time": now_iso()}
        app.pushes.append(record)
        summary = f"push {push['sha'][:7]} to {push['ref']}: {push['result']}"
        sim.state.record_event("PUSH", f"/{app.name}.git", app.name, summary)
        if push["result"] != "released":
            return {}
        release = release_commit(sim, app, push["sha"], push["account"], procfile=procfile)
        record["release"] = release.version
        return {"version": release.version, "web_url": app.web_url}


def _body(handler):
    raw = handler.read_body()
    return json.loads(raw) if raw else {}


def handle(handler):
    sim = handler.server.sim
    if handler.client_address[0] != "127.0.0.1":
        handler.send_json(403, {"id": "forbidden", "message": "Control API is local only."})
        return
    route = (handler.command, handler.path.partition("?")[0])
    try:
        status, body = _dispatch(sim, route, handler)
    except (ValueError, KeyError, TypeError) as error:
        status, body = 422, {"id": "invalid_params", "message": str(error)}
    handler.send_json(status, body)


def _dispatch(sim, route, handler):
    if route == ("GET", "/__sim__/state"):
        return 200, snapshot(sim)
    if route == ("POST", "/__sim__/faults"):
        return 201, sim.faults.add(_body(handler))
    if route == ("GET", "/__sim__/faults"):
        return 200, sim.faults.list()
    if route == ("DELETE", "/__sim__/faults"):
        sim.faults.clear()
        return 200, []
    if route == ("POST", "/__sim__/reset"):
        sim.reset()
        return 200, {"reset": True}
    if route == ("POST", "/__sim__/internal/push"):
        return 200, _record_push(sim, _body(handler))
    return 404, {"id": "not_found", "message": "Unknown control endpoint."}
