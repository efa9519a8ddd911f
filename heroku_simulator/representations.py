"""JSON bodies shaped as the official Platform API schema describes them."""

STACK = {"id": "ee582d3c-717d-4a57-ba5a-d8ea3ba2ab1b", "name": "heroku-24"}
REGION = {"id": "59accabd-516d-4f0e-83e6-6e3757701145", "name": "us"}
GENERATION = {"id": "a8d0f6c1-7b4e-4c8e-9d3b-6f1d2e3c4b5a", "name": "cedar"}
DYNO_SIZE_IDS = {
    "Basic": "e4b2a1c3-7f6d-4a5b-9c8d-1e2f3a4b5c6d",
    "Standard-1X": "b0d8a4c2-3e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "Standard-2X": "c1e9b5d3-4f6a-4b7c-9d8e-0f1a2b3c4d5e",
}


def app_ref(app):
    return {"id": app.id, "name": app.name}


def dyno_size(name):
    return {"id": DYNO_SIZE_IDS.get(name, DYNO_SIZE_IDS["Basic"]), "name": name}


def account_json(account):
    return {
        "allow_tracking": True,
        "beta": False,
        "created_at": account.created_at,
        "email": account.email,
        "federated": False,
        "id": account.id,
        "identity_provider": None,
        "last_login": account.created_at,
        "name": account.email.split("@")[0],
        "sms_number": None,
        "suspended_at": None,
        "delinquent_at": None,
        "two_factor_authentication": False,
        "updated_at": account.created_at,
        "verified": True,
        "country_of_residence": None,
        "default_organization": None,
        "default_team": None,
    }


def app_json(app, owner):
    current = app.current_release
    return {
        "acm": False,
        "archived_at": None,
        "buildpack_provided_description": "Python" if current and current.commit else None,
        "build_stack": STACK,
        "created_at": app.created_at,
        "generation": GENERATION,
        "git_url": f"https://git.heroku.com/{app.name}.git",
        "id": app.id,
        "internal_routing": None,
        "maintenance": app.maintenance,
        "name": app.name,
        "owner": {"email": app.owner, "id": owner.id if owner else app.id},
        "organization": None,
        "team": None,
        "region": REGION,
        "released_at": current.created_at if current else None,
        "repo_size": None,
        "slug_size": None,
        "space": None,
        "stack": STACK,
        "updated_at": app.updated_at,
        "web_url": app.web_url,
    }


def formation_json(app, formation):
    return {
        "app": app_ref(app),
        "command": formation.command,
        "created_at": formation.created_at,
        "dyno_size": dyno_size(formation.size),
        "id": formation.id,
        "quantity": formation.quantity,
        "size": formation.size,
        "type": formation.type,
        "updated_at": formation.updated_at,
    }


def release_json(app, release, user, api_url=""):
    current = app.current_release
    stream = f"{api_url}/release-output/streams/{release.stream_id}" if release.stream_id else None
    return {
        "addon_plan_names": [addon.plan for addon in app.addons],
        "artifacts": [],
        "app": app_ref(app),
        "created_at": release.created_at,
        "description": release.description,
        "id": release.id,
        "updated_at": release.updated_at,
        "slug": {"id": release.slug_id} if release.slug_id else None,
        "status": release.status,
        "user": {"email": release.user_email, "id": user.id if user else app.id},
        "version": release.version,
        "current": current is release,
        "output_stream_url": stream,
        "eligible_for_rollback": current is not release and release.status == "succeeded",
    }


def dyno_json(app, dyno, attach_host):
    attach_url = f"rendezvous://{attach_host}/{dyno.secret}" if dyno.attach else None
    return {
        "attach_url": attach_url,
        "command": dyno.command,
        "created_at": dyno.created_at,
        "id": dyno.id,
        "name": dyno.name,
        "release": {"id": dyno.release_id, "version": dyno.release_version},
        "app": app_ref(app),
        "size": dyno.size,
        "state": dyno.state,
        "type": dyno.type,
        "updated_at": dyno.updated_at,
    }


def key_json(key, email):
    return {
        "comment": key.comment,
        "created_at": key.created_at,
        "email": email,
        "fingerprint": key.fingerprint,
        "id": key.id,
        "public_key": key.public_key,
        "updated_at": key.updated_at,
    }


def addon_json(app, addon):
    return {
        "actions": [],
        "addon_service": {"id": addon.id, "name": addon.service},
        "billing_entity": {"id": app.id, "name": app.name, "type": "app"},
        "app": app_ref(app),
        "billed_price": {"cents": 0, "contract": False, "unit": "month"},
        "config_vars": [addon.config_var],
        "created_at": addon.created_at,
        "id": addon.id,
        "name": addon.name,
        "plan": {"id": addon.id, "name": addon.plan},
        "provider_id": addon.id,
        "provision_message": "",
        "state": "provisioned",
        "updated_at": addon.created_at,
        "web_url": None,
    }


def attachment_json(app, addon, inclusions=()):
    """`inclusions` come from the CLI's `Accept-Inclusion: addon:plan,config_vars` header."""
    body = {
        "addon": {"id": addon.id, "name": addon.name, "app": app_ref(app)},
        "app": app_ref(app),
        "created_at": addon.created_at,
        "id": addon.attachment_id,
        "name": addon.config_var.removesuffix("_URL"),
        "namespace": None,
        "updated_at": addon.created_at,
        "web_url": None,
        "log_input_url": None,
    }
    if "addon:plan" in inclusions:
        body["addon"]["plan"] = {"id": addon.id, "name": addon.plan}
    if "config_vars" in inclusions:
        body["config_vars"] = [addon.config_var]
    return body


def log_session_json(session_id, url, created_at):
    return {
        "created_at": created_at,
        "id": session_id,
        "logplex_url": url,
        "updated_at": created_at,
    }


def error_body(error_id, message, url=None):
    body = {"id": error_id, "message": message}
    if url:
        body["url"] = url
    return body


def slug_json(release):
    """The slug `release` runs, first released by it (a later release may share it)."""
    return {
        "blob": {"method": "GET", "url": f"https://slugs.example.invalid/{release.slug_id}.tgz"},
        "buildpack_provided_description": "Python",
        "checksum": None,
        "commit": release.commit,
        "commit_description": None,
        "created_at": release.created_at,
        "id": release.slug_id,
        "process_types": {"web": "gunicorn app:app"},
        "size": None,
        "stack": STACK,
        "updated_at": release.created_at,
    }
