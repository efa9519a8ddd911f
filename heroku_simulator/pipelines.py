"""Pipelines, couplings and promotions (docs/heroku.md §9), as `heroku pipelines:promote` uses
them (heroku/cli `src/commands/pipelines/promote.ts`, `src/lib/api.ts`).

Seed (STATE.json): `"pipelines": [{"name": "shop", "couplings": {"shop-staging": "staging",
"shop-prod": "production"}}]`; `"promotion_seconds"` (default 0.3) is how long a promotion
target stays `pending` before its release is made.

A promotion copies the source release's slug into a new release of each target (through
`App.add_release`, the one place releases are made), without building anything. Fault
injection: `{"route": "PROMOTE <target app>", "message": "..."}` fails that target with the
message as its `error_message` (`count` as for every fault).
"""

import re
import time
from dataclasses import dataclass, field

from . import representations as rep
from .pagination import Listing
from .router import ApiError
from .state import new_id, now_iso

STAGES = ("test", "review", "development", "staging", "production")
PIPELINE_NAME = re.compile(r"^[a-z][a-z0-9-]{2,29}$")
DEFAULT_PROMOTION_SECONDS = 0.3


@dataclass
class Pipeline:
    name: str
    id: str = field(default_factory=new_id)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)


@dataclass
class Coupling:
    app_id: str
    pipeline_id: str
    stage: str
    id: str = field(default_factory=new_id)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)


@dataclass
class Target:
    app_id: str
    status: str = "pending"
    error_message: str | None = None
    release_id: str | None = None
    id: str = field(default_factory=new_id)


@dataclass
class Promotion:
    pipeline_id: str
    source_app_id: str
    source_release_id: str
    user_email: str
    targets: list
    ready_at: float
    id: str = field(default_factory=new_id)
    created_at: str = field(default_factory=now_iso)
    updated_at: str | None = None


@dataclass
class Book:
    """The simulator's pipelines, couplings and promotions (`SimState.pipelines`)."""

    pipelines: list = field(default_factory=list)
    couplings: list = field(default_factory=list)
    promotions: list = field(default_factory=list)
    promotion_seconds: float = DEFAULT_PROMOTION_SECONDS

    def pipeline(self, name_or_id):
        return next((p for p in self.pipelines if name_or_id in (p.id, p.name)), None)

    def coupling_of(self, app):
        return next((c for c in self.couplings if c.app_id == app.id), None)


def book_from_seed(seed, apps) -> Book:
    book = Book(promotion_seconds=float(seed.get("promotion_seconds", DEFAULT_PROMOTION_SECONDS)))
    by_name = {app.name: app for app in apps}
    for data in seed.get("pipelines", []):
        pipeline = Pipeline(name=data["name"])
        if data.get("id"):
            pipeline.id = data["id"]
        book.pipelines.append(pipeline)
        for app_name, stage in data.get("couplings", {}).items():
            book.couplings.append(Coupling(by_name[app_name].id, pipeline.id, stage))
    return book


def register(router):
    router.add("GET", "/pipelines")(list_pipelines)
    router.add("POST", "/pipelines")(create_pipeline)
    router.add("GET", "/pipelines/{pipeline}")(get_pipeline)
    router.add("GET", "/pipelines/{pipeline}/pipeline-couplings")(list_pipeline_couplings)
    router.add("GET", "/pipeline-couplings")(list_couplings)
    router.add("POST", "/pipeline-couplings")(create_coupling)
    router.add("GET", "/pipeline-couplings/{coupling}")(get_coupling)
    router.add("GET", "/apps/{app}/pipeline-couplings")(get_app_coupling)
    router.add("POST", "/filters/apps")(filter_apps)
    router.add("POST", "/pipeline-promotions")(create_promotion)
    router.add("GET", "/pipeline-promotions/{promotion}")(get_promotion)
    router.add("GET", "/pipeline-promotions/{promotion}/promotion-targets")(list_targets)


# representations


def pipeline_json(pipeline):
    return {
        "created_at": pipeline.created_at,
        "id": pipeline.id,
        "name": pipeline.name,
        "owner": None,
        "updated_at": pipeline.updated_at,
        "generation": rep.GENERATION,
    }


def coupling_json(book, coupling):
    pipeline = book.pipeline(coupling.pipeline_id)
    return {
        "app": {"id": coupling.app_id},
        "created_at": coupling.created_at,
        "id": coupling.id,
        # The CLI's pipelines:promote prints `coupling.pipeline.name`: Heroku sends it too.
        "pipeline": {"id": pipeline.id, "name": pipeline.name},
        "stage": coupling.stage,
        "updated_at": coupling.updated_at,
    }


def promotion_json(promotion):
    done = all(t.status != "pending" for t in promotion.targets)
    return {
        "created_at": promotion.created_at,
        "id": promotion.id,
        "pipeline": {"id": promotion.pipeline_id},
        "source": {
            "app": {"id": promotion.source_app_id},
            "release": {"id": promotion.source_release_id},
        },
        "status": "completed" if done else "pending",
        "updated_at": promotion.updated_at,
    }


def target_json(promotion, target):
    return {
        "app": {"id": target.app_id},
        "error_message": target.error_message,
        "id": target.id,
        "pipeline_promotion": {"id": promotion.id},
        "release": {"id": target.release_id} if target.release_id else None,
        "status": target.status,
    }


# pipelines and couplings


def _book(call) -> Book:
    return call.sim.state.pipelines


def _visible_couplings(call):
    book = _book(call)
    for coupling in book.couplings:
        app = call.sim.state.find_app(coupling.app_id)
        if app is not None and app.can_access(call.account):
            yield coupling


def _pipeline(call, name_or_id):
    pipeline = _book(call).pipeline(name_or_id)
    if pipeline is None:
        raise ApiError(404, "not_found", "Couldn't find that pipeline.")
    return pipeline


def list_pipelines(call):
    seen = {c.pipeline_id for c in _visible_couplings(call)}
    pipelines = [p for p in _book(call).pipelines if p.id in seen]
    return Listing([(pipeline_json(p), {"id": p.id, "name": p.name}) for p in pipelines])


def create_pipeline(call):
    name = call.json().get("name")
    if not isinstance(name, str) or not PIPELINE_NAME.match(name):
        raise ApiError(422, "invalid_params", "Name must be 3 to 30 lowercase letters or digits.")
    if _book(call).pipeline(name):
        raise ApiError(422, "invalid_params", "Name is already taken.")
    pipeline = Pipeline(name=name)
    _book(call).pipelines.append(pipeline)
    call.summary = f"create pipeline {name}"
    return 201, pipeline_json(pipeline)


def get_pipeline(call, pipeline):
    return pipeline_json(_pipeline(call, pipeline))


def list_pipeline_couplings(call, pipeline):
    found = _pipeline(call, pipeline)
    book = _book(call)
    items = [
        (coupling_json(book, c), {"id": c.id})
        for c in _visible_couplings(call)
        if c.pipeline_id == found.id
    ]
    return Listing(items)


def list_couplings(call):
    book = _book(call)
    return Listing([(coupling_json(book, c), {"id": c.id}) for c in _visible_couplings(call)])


def create_coupling(call):
    body = call.json()
    app = call.app(str(body.get("app") or ""))
    pipeline = _pipeline(call, str(body.get("pipeline") or ""))
    if body.get("stage") not in STAGES:
        raise ApiError(422, "invalid_params", f"Stage must be one of {', '.join(STAGES)}.")
    book = _book(call)
    if book.coupling_of(app):
        raise ApiError(422, "invalid_params", f"{app.name} is already in a pipeline.")
    coupling = Coupling(app.id, pipeline.id, body["stage"])
    book.couplings.append(coupling)
    call.summary = f"couple {app.name} to {pipeline.name} as {coupling.stage}"
    return 201, coupling_json(book, coupling)


def get_coupling(call, coupling):
    found = next((c for c in _visible_couplings(call) if c.id == coupling), None)
    if found is None:
        raise ApiError(404, "not_found", "Couldn't find that pipeline coupling.")
    return coupling_json(_book(call), found)


def get_app_coupling(call, app):
    found = call.app(app)
    coupling = _book(call).coupling_of(found)
    if coupling is None:
        raise ApiError(404, "not_found", f"{found.name} is not part of any pipeline.")
    return coupling_json(_book(call), coupling)


def filter_apps(call):
    wanted = (call.json().get("in") or {}).get("id") or []
    if not isinstance(wanted, list):
        raise ApiError(422, "invalid_params", "in.id must be a list of app ids.")
    state = call.sim.state
    apps = [a for a in state.apps if a.id in wanted and a.can_access(call.account)]
    owner = state.account_by_email
    return Listing(
        [(rep.app_json(a, owner(a.owner)), {"id": a.id, "name": a.name}) for a in apps],
        ("id", "name"),
    )


# promotions


def _id_of(body, *path):
    value = body
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) and value else None


def create_promotion(call):
    body = call.json()
    book = _book(call)
    pipeline = _pipeline(call, _id_of(body, "pipeline", "id") or "")
    source = call.app(_id_of(body, "source", "app", "id") or "")
    _check_coupled(book, pipeline, source)
    release = _source_release(source, _id_of(body, "source", "release", "id"))
    targets = body.get("targets")
    if not isinstance(targets, list) or not targets:
        raise ApiError(422, "invalid_params", "Targets can't be blank.")
    apps = [call.app(_id_of(t, "app", "id") or "") for t in targets]
    for app in apps:
        if app is source:
            raise ApiError(422, "invalid_params", "Cannot promote an app to itself.")
        _check_coupled(book, pipeline, app)
    promotion = Promotion(
        pipeline_id=pipeline.id,
        source_app_id=source.id,
        source_release_id=release.id,
        user_email=call.account.email,
        targets=[Target(app.id) for app in apps],
        ready_at=time.monotonic() + book.promotion_seconds,
    )
    book.promotions.append(promotion)
    call.app_name = source.name
    names = ", ".join(app.name for app in apps)
    call.summary = f"promote {source.name} v{release.version} to {names}"
    return 201, promotion_json(promotion)


def _check_coupled(book, pipeline, app):
    coupling = book.coupling_of(app)
    if coupling is None or coupling.pipeline_id != pipeline.id:
        raise ApiError(
            422, "invalid_params", f"{app.name} is not part of the pipeline {pipeline.name}."
        )


def _source_release(app, release_id):
    """The release to promote: the one named, else the app's current release; it needs code."""
    if release_id:
        release = next((r for r in app.releases if r.id == release_id), None)
        if release is None:
            raise ApiError(404, "not_found", "Couldn't find that release.")
    else:
        release = app.current_release
    if release is None or not release.slug_id:
        raise ApiError(422, "invalid_params", f"{app.name} has no release with code to promote.")
    return release


def _promotion(call, promotion_id):
    book = _book(call)
    found = next((p for p in book.promotions if p.id == promotion_id), None)
    if found is None:
        raise ApiError(404, "not_found", "Couldn't find that promotion.")
    call.app(found.source_app_id)  # only who may see the source app sees its promotions
    _advance(call, found)
    return found


def _advance(call, promotion):
    """Once its time has come, each pending target is released (or fails, when a fault says)."""
    if time.monotonic() < promotion.ready_at:
        return
    state = call.sim.state
    source = state.find_app(promotion.source_app_id)
    release = next(r for r in source.releases if r.id == promotion.source_release_id)
    for target in promotion.targets:
        if target.status != "pending":
            continue
        app = state.find_app(target.app_id)
        fault = call.sim.faults.take(f"PROMOTE {app.name}")
        if fault is not None:
            target.status = "failed"
            target.error_message = fault["message"] or "The promotion to this app failed."
        else:
            if release.commit:
                call.sim.repos.copy_commit(source.name, app.name, release.commit)
            made = app.add_release(
                f"Promote {source.name} v{release.version}",
                promotion.user_email,
                slug_id=release.slug_id,
                commit=release.commit,
            )
            call.sim.dynos.restart_formation(app)
            target.status, target.release_id = "succeeded", made.id
        summary = f"promote to {app.name}: {target.status}"
        state.record_event("PROMOTE", f"/pipeline-promotions/{promotion.id}", app.name, summary)
    promotion.updated_at = now_iso()


def get_promotion(call, promotion):
    return promotion_json(_promotion(call, promotion))


def list_targets(call, promotion):
    found = _promotion(call, promotion)
    return Listing([(target_json(found, t), {"id": t.id}) for t in found.targets])
