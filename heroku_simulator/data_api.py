"""Heroku Postgres data API (api.data.heroku.com) as `pg:backups:capture`,
`pg:backups:restore` and `pg:backups:delete` use it (§4 of docs/heroku.md).

The CLI sends these to HEROKU_DATA_HOST with the same Bearer token; a backup or a restore
finishes `backup_seconds` (STATE.json, default 1.0) after it was started, its
`processed_bytes` growing meanwhile. Backups and restores are both "transfers" of the app,
numbered together. A restore fails (finishes with `succeeded: false`, the fault's message in
its logs) when a fault `{"route": "RESTORE <app>", "message": ...}` is queued; the app's
database records which backup it was last restored from (`restored_from` in the state).
"""

import time
import uuid

from .router import ApiError
from .state import now_iso

PG_SERVICE = "heroku-postgresql"


def register(router):
    router.add("GET", "/client/v11/databases/{addon_id}", needs_accept=False)(database_info)
    router.add("POST", "/client/v11/databases/{addon_id}/backups", needs_accept=False)(capture)
    router.add("POST", "/client/v11/databases/{addon_id}/restores", needs_accept=False)(restore)
    router.add("GET", "/client/v11/apps/{app}/transfers", needs_accept=False)(list_transfers)
    router.add("GET", "/client/v11/apps/{app}/transfers/{transfer}", needs_accept=False)(
        get_transfer
    )
    router.add("DELETE", "/client/v11/apps/{app}/transfers/{transfer}", needs_accept=False)(
        delete_transfer
    )


def _database(call, addon_id):
    for app in call.sim.state.apps:
        for addon in app.addons:
            if addon_id in (addon.id, addon.name) and addon.service == PG_SERVICE:
                call.app(app.name)
                return app, addon
    raise ApiError(404, "not_found", "Couldn't find that database.")


def database_info(call, addon_id):
    app, addon = _database(call, addon_id)
    return {
        "addon_id": addon.id,
        "name": addon.name,
        "plan": addon.plan.split(":")[-1],
        "resource_url": app.config_vars.get(addon.config_var, ""),
        "database_name": addon.name,
        "following": None,
        "leader": None,
        "info": [
            {"name": "Plan", "values": [addon.plan.split(":")[-1].replace("-", " ").title()]},
            {"name": "Status", "values": ["Available"]},
            {"name": "Data Size", "values": ["8.3 MB"]},
            {"name": "Tables", "values": [3]},
            {"name": "PG Version", "values": ["16.4"]},
            {"name": "Continuous Protection", "values": ["Off"]},
            {"name": "Created", "values": [addon.created_at]},
        ],
    }


def capture(call, addon_id):
    app, addon = _database(call, addon_id)
    transfer = {
        "uuid": str(uuid.uuid4()),
        "num": len(app.backups) + 1,
        "num_keep": 2,
        "from_name": addon.config_var.removesuffix("_URL"),
        "from_type": "pg_dump",
        "from_url": app.config_vars.get(addon.config_var, ""),
        "to_name": "BACKUP",
        "to_type": "gof3r",
        "to_url": f"https://s3.example.invalid/backups/{addon.id}/b{len(app.backups) + 1:03d}",
        "options": {},
        "processed_bytes": 0,
        "source_bytes": 8_700_000,
        "succeeded": None,
        "warnings": 0,
        "schedule": None,
        "created_at": now_iso(),
        "started_at": now_iso(),
        "finished_at": None,
        "canceled_at": None,
        "deleted_at": None,
        "purged_at": None,
        "updated_at": now_iso(),
        "app_uuid": app.id,
        "_finishes": time.time() + call.sim.state.backup_seconds,
    }
    app.backups.append(transfer)
    call.app_name = app.name
    call.summary = f"backup b{transfer['num']:03d} of {addon.name}"
    return 201, _public(transfer, verbose=False)


def restore(call, addon_id):
    """`pg:backups:restore`: the CLI posts the backup's `to_url` as `backup_url`."""
    app, addon = _database(call, addon_id)
    body = call.json() or {}
    url = body.get("backup_url")
    if not isinstance(url, str) or not url:
        raise ApiError(422, "invalid_params", "backup_url is required.")
    backup = next((t for t in app.backups if t["to_url"] == url and t["succeeded"]), None)
    if backup is None:  # the simulator restores only its own backups
        raise ApiError(422, "invalid_params", "Couldn't download the backup at backup_url.")
    fault = call.sim.faults.take(f"RESTORE {app.name}")
    num = len(app.backups) + 1
    transfer = {
        **backup,
        "uuid": str(uuid.uuid4()),
        "num": num,
        "from_name": "BACKUP",
        "from_type": "gof3r",
        "from_url": url,
        "to_name": addon.config_var.removesuffix("_URL"),
        "to_type": "pg_restore",
        "to_url": app.config_vars.get(addon.config_var, ""),
        "options": {"extensions": body.get("extensions")} if body.get("extensions") else {},
        "processed_bytes": 0,
        "succeeded": None,
        "created_at": now_iso(),
        "started_at": now_iso(),
        "finished_at": None,
        "updated_at": now_iso(),
        "_finishes": time.time() + call.sim.state.backup_seconds,
        "_started": time.time(),
        "_fails": (fault["message"] or "pg_restore: error: could not execute query")
        if fault
        else None,
        "_backup": f"b{backup['num']:03d}",
        "_addon": addon,
    }
    app.backups.append(transfer)
    call.app_name = app.name
    call.summary = f"restore of b{backup['num']:03d} to {addon.name}"
    return 201, _public(transfer, verbose=False)


def _settle(transfer):
    if transfer["finished_at"] is not None:
        return
    if time.time() < transfer["_finishes"]:
        if "_started" in transfer:  # a restore shows its progress
            spent = time.time() - transfer["_started"]
            share = spent / max(transfer["_finishes"] - transfer["_started"], 0.001)
            transfer["processed_bytes"] = int(transfer["source_bytes"] * min(share, 0.99))
        return
    failed = transfer.get("_fails")
    transfer.update(
        finished_at=now_iso(),
        updated_at=now_iso(),
        succeeded=not failed,
        processed_bytes=transfer["processed_bytes"] if failed else transfer["source_bytes"],
    )
    if not failed and transfer.get("_addon") is not None:
        transfer["_addon"].restored_from = transfer["_backup"]


def _logs(transfer):
    if transfer["to_type"] == "pg_restore":
        first, last = "pg_restore started", transfer.get("_fails") or "restore done"
    else:
        first, last = "pg_dump started", "upload done"
    logs = [{"created_at": transfer["started_at"], "level": "info", "message": first}]
    if transfer["finished_at"]:
        level = "error" if transfer.get("_fails") else "info"
        logs.append({"created_at": transfer["finished_at"], "level": level, "message": last})
    return logs


def _public(transfer, verbose):
    _settle(transfer)
    body = {k: v for k, v in transfer.items() if not k.startswith("_")}
    if verbose:
        body["logs"] = _logs(transfer)
    return body


def list_transfers(call, app):
    found = call.app(app)
    return [_public(t, verbose=False) for t in found.backups]


def get_transfer(call, app, transfer):
    found = call.app(app)
    for item in found.backups:
        if transfer in (item["uuid"], str(item["num"])):
            return _public(item, verbose=call.query.get("verbose") == "true")
    raise ApiError(404, "not_found", "Couldn't find that transfer.")


def delete_transfer(call, app, transfer):
    """`pg:backups:delete b005`: the backup is gone (no longer listed, nor restorable)."""
    found = call.app(app)
    for item in found.backups:
        if transfer in (item["uuid"], str(item["num"])):
            found.backups.remove(item)
            item["deleted_at"] = now_iso()
            call.app_name = found.name
            call.summary = f"deleted transfer {item['num']}"
            return _public(item, verbose=False)
    raise ApiError(404, "not_found", "Couldn't find that transfer.")
