"""Platform API routes (https://api.heroku.com), answered as the official schema describes."""

import base64
import hashlib
import json
import re
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.serialization import load_ssh_public_key

from . import representations as rep
from .pagination import Listing
from .router import ApiError, Router
from .state import Key, now_iso

router = Router()
SCHEMA_PATH = Path(__file__).with_name("heroku-platform-api-schema.json")  # the official one
APP_NAME = re.compile(r"^[a-z][a-z0-9-]{1,28}[a-z0-9]$")
CONFIG_KEY = re.compile(r"^\w+$")
QUANTITY = re.compile(r"^([+-]?)(\d+)$")
DYNO_SIZES = ("Eco", "Basic", "Standard-1X", "Standard-2X", "Performance-M", "Performance-L")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _created(body):
    return 201, body


def _owner(call, app):
    return call.sim.state.account_by_email(app.owner)


# account


@router.add("GET", "/account")
def get_account(call):
    return rep.account_json(call.account)


@router.add("GET", "/account/rate-limits", costs_token=False)
def get_rate_limits(call):
    return {"remaining": call.sim.api_limits.remaining(call.account.id)}


@router.add("GET", "/schema")
def get_schema(call):
    return json.loads(SCHEMA_PATH.read_text())


# keys


def _parse_public_key(text):
    parts = text.strip().split(None, 2)
    if len(parts) < 2:
        raise ApiError(422, "invalid_params", "Key must be a valid SSH public key.")
    try:
        load_ssh_public_key(f"{parts[0]} {parts[1]}".encode())
        blob = base64.b64decode(parts[1], validate=True)
    except (ValueError, TypeError) as error:
        raise ApiError(422, "invalid_params", "Key must be a valid SSH public key.") from error
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    comment = parts[2] if len(parts) > 2 else ""
    return (
        f"{parts[0]} {parts[1]}" + (f" {comment}" if comment else ""),
        comment,
        f"SHA256:{digest}",
    )


def _own_keys(call):
    return [k for k in call.sim.state.keys if k.account_id == call.account.id]


def _find_key(call, key_id):
    for key in _own_keys(call):
        if key_id in (key.id, key.fingerprint):
            return key
    raise ApiError(404, "not_found", "Couldn't find that key.")


@router.add("GET", "/account/keys")
def list_keys(call):
    items = [(rep.key_json(k, call.account.email), {"id": k.id}) for k in _own_keys(call)]
    return Listing(items)


@router.add("POST", "/account/keys")
def create_key(call):
    public_key, comment, fingerprint = _parse_public_key(str(call.json().get("public_key", "")))
    if any(k.fingerprint == fingerprint for k in _own_keys(call)):
        raise ApiError(422, "invalid_params", "Key already exists.")
    key = Key(call.account.id, public_key, comment, fingerprint)
    call.sim.state.keys.append(key)
    call.summary = f"add key {fingerprint}"
    return _created(rep.key_json(key, call.account.email))


@router.add("GET", "/account/keys/{key_id}")
def get_key(call, key_id):
    return rep.key_json(_find_key(call, key_id), call.account.email)


@router.add("DELETE", "/account/keys/{key_id}")
def delete_key(call, key_id):
    key = _find_key(call, key_id)
    call.sim.state.keys.remove(key)
    call.summary = f"remove key {key.fingerprint}"
    return rep.key_json(key, call.account.email)


# apps


@router.add("GET", "/apps")
def list_apps(call):
    state = call.sim.state
    visible = [a for a in state.apps if a.can_access(call.account)]
    items = [
        (rep.app_json(a, _owner(call, a)), {"id": a.id, "name": a.name, "updated_at": a.updated_at})
        for a in visible
    ]
    return Listing(items, ("id", "name", "updated_at"))


@router.add("GET", "/apps/{app}")
def get_app(call, app):
    found = call.app(app)
    return rep.app_json(found, _owner(call, found))


@router.add("PATCH", "/apps/{app}")
def update_app(call, app):
    found, body = call.app(app), call.json()
    if "maintenance" in body:
        if not isinstance(body["maintenance"], bool):
            raise ApiError(422, "invalid_params", "maintenance must be a boolean.")
        found.maintenance = body["maintenance"]
        call.summary = f"maintenance {'on' if found.maintenance else 'off'}"
    if "name" in body:
        _rename(call, found, body["name"])
    found.updated_at = now_iso()
    return rep.app_json(found, _owner(call, found))


def _rename(call, app, name):
    if not isinstance(name, str) or not APP_NAME.match(name):
        raise ApiError(
            422,
            "invalid_params",
            "Name must start with a letter, end with a letter or digit and can only contain "
            "lowercase letters, digits, and dashes.",
        )
    if call.sim.state.find_app(name) not in (None, app):
        raise ApiError(422, "invalid_params", "Name is already taken")
    call.summary = f"rename {app.name} to {name}"
    app.name = name


# formation


def _formation(app, type_or_id):
    for item in app.formation.values():
        if type_or_id in (item.type, item.id):
            return item
    raise ApiError(404, "not_found", f"Couldn't find that process type ({type_or_id}).")


def _quantity(current, value):
    if isinstance(value, bool):
        value = None
    if isinstance(value, int):
        result = value
    else:
        match = QUANTITY.match(str(value).strip()) if value is not None else None
        if not match:
            raise ApiError(422, "invalid_params", f"Invalid quantity: {value!r}.")
        sign, number = match.groups()
        result = (
            current + int(number) if sign == "+" else current - int(number) if sign else int(number)
        )
    if result < 0:
        raise ApiError(422, "invalid_params", "Quantity must be 0 or greater.")
    return result


def _size(update):
    wanted = update.get("dyno_size") or update.get("size")
    if isinstance(wanted, dict):
        wanted = wanted.get("name") or next(
            (n for n, i in rep.DYNO_SIZE_IDS.items() if i == wanted.get("id")), wanted.get("id")
        )
    if wanted is None:
        return None
    for size in DYNO_SIZES:
        if str(wanted).lower() == size.lower():
            return size
    raise ApiError(422, "invalid_params", f"No such size as {wanted}.")


def _apply_formation_update(app, item, update):
    size = _size(update)
    if "quantity" in update:
        item.quantity = _quantity(item.quantity, update["quantity"])
    if size:
        item.size = size
    item.updated_at = now_iso()
    return f"{item.type}={item.quantity}:{item.size}"


@router.add("GET", "/apps/{app}/formation")
def list_formation(call, app):
    found = call.app(app)
    items = [(rep.formation_json(found, f), {"id": f.id}) for f in found.formation.values()]
    return Listing(items)


@router.add("GET", "/apps/{app}/formation/{formation}")
def get_formation(call, app, formation):
    found = call.app(app)
    return rep.formation_json(found, _formation(found, formation))


@router.add("PATCH", "/apps/{app}/formation/{formation}")
def update_formation(call, app, formation):
    found = call.app(app)
    item = _formation(found, formation)
    call.summary = "scale " + _apply_formation_update(found, item, call.json())
    call.sim.dynos.sync_formation(found)
    return rep.formation_json(found, item)


@router.add("PATCH", "/apps/{app}/formation")
def batch_update_formation(call, app):
    found, updates = call.app(app), call.json().get("updates")
    if not isinstance(updates, list) or not all(isinstance(u, dict) for u in updates):
        raise ApiError(422, "invalid_params", "updates must be a list of formation updates.")
    pairs = [(_formation(found, str(u.get("type") or u.get("process"))), u) for u in updates]
    changes = [_apply_formation_update(found, item, update) for item, update in pairs]
    call.summary = "scale " + " ".join(changes)
    call.sim.dynos.sync_formation(found)
    return [rep.formation_json(found, item) for item, _ in pairs]


# config vars


@router.add("GET", "/apps/{app}/config-vars")
def get_config_vars(call, app):
    return dict(call.app(app).config_vars)


@router.add("PATCH", "/apps/{app}/config-vars")
def update_config_vars(call, app):
    found, body = call.app(app), call.json()
    for key, value in body.items():
        if not CONFIG_KEY.match(key) or not (value is None or isinstance(value, str)):
            raise ApiError(422, "invalid_params", f"Invalid config var {key!r}.")
    removed = sorted(k for k, v in body.items() if v is None and k in found.config_vars)
    changed = sorted(k for k, v in body.items() if v is not None and found.config_vars.get(k) != v)
    for key in removed:
        del found.config_vars[key]
    found.config_vars.update({k: v for k, v in body.items() if v is not None})
    if changed:
        found.add_release(f"Set {', '.join(changed)} config vars", call.account.email)
    if removed:
        found.add_release(f"Remove {', '.join(removed)} config vars", call.account.email)
    call.summary = f"set {changed} remove {removed}"
    return dict(found.config_vars)


# releases


def _release_json(call, app, release):
    user = call.sim.state.account_by_email(release.user_email)
    return rep.release_json(app, release, user, call.sim.api_url)


def _release(app, id_or_version):
    text = str(id_or_version).removeprefix("v")
    for release in app.releases:
        if text in (release.id, str(release.version)):
            return release
    raise ApiError(404, "not_found", "Couldn't find that release.")


@router.add("GET", "/apps/{app}/releases")
def list_releases(call, app):
    found = call.app(app)
    items = [
        (_release_json(call, found, r), {"id": r.id, "version": r.version}) for r in found.releases
    ]
    return Listing(items, ("version", "id"))


@router.add("GET", "/apps/{app}/releases/{release}")
def get_release(call, app, release):
    found = call.app(app)
    return _release_json(call, found, _release(found, release))


@router.add("POST", "/apps/{app}/releases")
def create_release(call, app):
    found, body = call.app(app), call.json()
    if body.get("release"):
        return _created(_rollback(call, found, _release(found, body["release"])))
    slug = body.get("slug")
    release = next((r for r in found.releases if slug and r.slug_id == slug), None)
    if release is None:
        raise ApiError(422, "invalid_params", "Couldn't find that slug.")
    new = found.add_release(
        body.get("description") or "Deploy", call.account.email, release.slug_id, release.commit
    )
    call.summary = f"release v{new.version}"
    call.sim.dynos.restart_formation(found)  # a new release restarts the app's dynos
    return _created(_release_json(call, found, new))


@router.add("GET", "/apps/{app}/slugs/{slug}")
def get_slug(call, app, slug):
    """The slugs the app's releases run; each knows the commit it was built from."""
    found = call.app(app)
    release = next((r for r in found.releases if r.slug_id and r.slug_id == slug), None)
    if release is None:
        raise ApiError(404, "not_found", "Couldn't find that slug.")
    return rep.slug_json(release)


def _rollback(call, app, target):
    app.config_vars = dict(target.config_vars)
    new = app.add_release(
        f"Rollback to v{target.version}",
        call.account.email,
        target.slug_id,
        target.commit,
        keep_slug=False,
    )
    call.summary = f"rollback to v{target.version} as v{new.version}"
    call.sim.dynos.restart_formation(app)
    return _release_json(call, app, new)


# dynos


@router.add("POST", "/apps/{app}/dynos")
def create_dyno(call, app):
    found, body = call.app(app), call.json()
    command = body.get("command")
    if not isinstance(command, str) or not command.strip():
        raise ApiError(422, "invalid_params", "Command can't be blank.")
    env = body.get("env") or {}
    if not isinstance(env, dict):
        raise ApiError(422, "invalid_params", "env must be an object.")
    ttl = body.get("time_to_live")
    # The schema's time_to_live is an integer, at most 86400 (docs/heroku.md §2.6).
    if ttl is not None and (type(ttl) is not int or not 0 < ttl <= 86400):
        raise ApiError(422, "invalid_params", "time_to_live must be between 1 and 86400.")
    dyno = call.sim.dynos.create(found, body, call.account)
    call.summary = f"run {dyno.name}: {command}"
    return _created(rep.dyno_json(found, dyno, call.sim.rendezvous_host))


@router.add("GET", "/apps/{app}/dynos")
def list_dynos(call, app):
    found = call.app(app)
    dynos = call.sim.dynos.visible(found)
    items = [(rep.dyno_json(found, d, call.sim.rendezvous_host), {"id": d.id}) for d in dynos]
    return Listing(items)


def _dyno(call, app, dyno):
    found = next((d for d in call.sim.dynos.visible(app) if dyno in (d.id, d.name)), None)
    if found is None:
        raise ApiError(404, "not_found", f"Couldn't find that dyno ({dyno}).")
    return found


@router.add("GET", "/apps/{app}/dynos/{dyno}")
def get_dyno(call, app, dyno):
    found = call.app(app)
    return rep.dyno_json(found, _dyno(call, found, dyno), call.sim.rendezvous_host)


@router.add("POST", "/apps/{app}/dynos/{dyno}/actions/stop")
def stop_dyno(call, app, dyno):
    found = call.app(app)
    target = _dyno(call, found, dyno)
    call.sim.dynos.stop(found, target)
    call.summary = f"stop {target.name}"
    return 202, {}


@router.add("DELETE", "/apps/{app}/dynos/{dyno}")
def restart_dyno(call, app, dyno):
    found = call.app(app)
    target = _dyno(call, found, dyno)
    call.sim.dynos.stop(found, target)
    call.summary = f"restart {target.name}"
    return 202, {}


@router.add("DELETE", "/apps/{app}/dynos")
def restart_all_dynos(call, app):
    found = call.app(app)
    call.sim.dynos.restart_formation(found)
    call.summary = "restart all dynos"
    return 202, {}


# log sessions


@router.add("POST", "/apps/{app}/log-sessions")
def create_log_session(call, app):
    found, body = call.app(app), call.json()
    session_id = str(uuid.uuid4())
    call.sim.log_sessions[session_id] = {
        "app": found.name,
        "dyno": body.get("dyno_name") or body.get("dyno"),
        "source": body.get("source"),
        "lines": int(body.get("lines") or 100),
        "tail": bool(body.get("tail")),
    }
    url = f"{call.sim.api_url}/sessions/{session_id}?srv={session_id[:8]}"
    created = now_iso()
    call.summary = "log session"
    return _created(rep.log_session_json(session_id, url, created))


# add-ons (enough for apps:info and the pg commands)


@router.add("GET", "/apps/{app}/addons")
def list_addons(call, app):
    found = call.app(app)
    return Listing([(rep.addon_json(found, a), {"id": a.id}) for a in found.addons])


def _inclusions(call):
    header = call.headers.get("Accept-Inclusion", "")
    return {part.strip() for part in header.split(",")}


@router.add("GET", "/apps/{app}/addon-attachments")
def list_attachments(call, app):
    found = call.app(app)
    return Listing(
        [
            (rep.attachment_json(found, a, _inclusions(call)), {"id": a.attachment_id})
            for a in found.addons
        ]
    )


@router.add("POST", "/actions/addon-attachments/resolve")
def resolve_attachment(call):
    body = call.json()
    found = call.app(str(body.get("app") or ""))
    wanted = str(body.get("addon_attachment") or "")
    matches = [
        a
        for a in found.addons
        if wanted in (a.config_var, a.config_var.removesuffix("_URL"), a.name, a.id)
    ]
    if not matches:
        raise ApiError(404, "not_found", f"Couldn't find that add on attachment {wanted}.")
    call.summary = f"resolve {wanted}"
    return [rep.attachment_json(found, a, _inclusions(call)) for a in matches]
