"""The Build API (docs/heroku.md §6.4): sources, their blobs, builds, build output, build cancel.

- `POST /sources` gives a put URL and a get URL, both served by the simulator itself (Heroku's
  are presigned storage URLs): `PUT` stores the tarball, `GET` reads it back.
- `POST /apps/{app}/builds` builds the tarball at `source_blob.url` (one of the simulator's own
  get URLs) in a thread, with the git receiver's rules and lines (compiler.py); a build that
  compiles makes its release through `App.add_release`, as a push does (`release_commit`).
- `output_stream_url` serves the build's output as text/plain while it builds; `Range:
  bytes=N-` resumes it. `DELETE /apps/{app}/builds/{id}` cancels a pending build.

Fault routes: "PUT /source-blobs/{id}" (the upload is refused with `status` and `message`),
"BUILD /apps/{app}/builds" (the compile takes `delay` seconds, which a cancel cuts short; with
`status`, the build fails with `message` as its last line), "GET /build-output/{id}" (the
stream drops once, after the output written so far).
"""

import contextlib
import hashlib
import io
import re
import secrets
import tarfile
import threading
import time
from dataclasses import dataclass, field

from .compiler import compile_source, say_released
from .pagination import Listing
from .router import ApiError
from .state import new_id, now_iso, slug_id_for

BLOB_PATH = re.compile(r"^/source-blobs/(?P<id>[0-9a-f-]+)\.tgz$")
STREAM_PATH = re.compile(r"^/build-output/(?P<id>[0-9a-f-]+)$")
BLOB_FAULT = "PUT /source-blobs/{id}"
BUILD_FAULT = "BUILD /apps/{app}/builds"
STREAM_FAULT = "GET /build-output/{id}"
SHA = re.compile(r"^[0-9a-f]{40}$")
STACK = "heroku-24"
CANCELED = " !     Build canceled."


@dataclass
class Source:
    put_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    get_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    data: bytes | None = None
    id: str = field(default_factory=new_id)


@dataclass
class Build:
    app_id: str
    user_email: str
    user_id: str
    source_url: str
    checksum: str | None
    version: str | None
    status: str = "pending"
    output: bytearray = field(default_factory=bytearray)
    release_id: str | None = None
    slug_id: str | None = None
    canceled: threading.Event = field(default_factory=threading.Event)
    id: str = field(default_factory=new_id)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)

    def say(self, line=""):
        self.output += f"{line}\n".encode()


def register(router):
    router.add("POST", "/sources")(create_source)
    router.add("POST", "/apps/{app}/builds")(create_build)
    router.add("GET", "/apps/{app}/builds")(list_builds)
    router.add("GET", "/apps/{app}/builds/{build}")(get_build)
    router.add("DELETE", "/apps/{app}/builds/{build}")(cancel_build)


def release_commit(sim, app, sha, email, procfile=None):
    """The release of a build of commit `sha`, made as every release is (`App.add_release`);
    the app's dynos restart on it. A push and a Build API build both release through here.
    `procfile`: the commit's Procfile when the app's repository cannot show it."""
    slug_id = slug_id_for(sha) if SHA.match(sha or "") else new_id()
    release = app.add_release(
        f"Deploy {(sha or '')[:7]}", email, slug_id=slug_id, commit=sha, procfile=procfile
    )
    sim.dynos.restart_formation(app)
    return release


# -- sources ----------------------------------------------------------------------------------


def _blob_url(sim, source, token):
    return f"{sim.api_url}/source-blobs/{source.id}.tgz?signature={token}"


def create_source(call):
    source = Source()
    call.sim.state.sources[source.id] = source
    call.summary = "source"
    blob = {
        "get_url": _blob_url(call.sim, source, source.get_token),
        "put_url": _blob_url(call.sim, source, source.put_token),
    }
    return 201, {"source_blob": blob}


def is_blob_path(path):
    return BLOB_PATH.match(path) is not None


def _signature(handler):
    query = handler.path.partition("?")[2]
    return dict(part.partition("=")[::2] for part in query.split("&") if part).get("signature", "")


def handle_blob(handler):
    """PUT or GET a source's tarball, as presigned storage URLs do: the URL is the credential."""
    sim = handler.server.sim
    source_id = BLOB_PATH.match(handler.path.partition("?")[0])["id"]
    body = handler.read_body()
    with sim.state.lock:
        source = sim.state.sources.get(source_id)
    token = None
    if source is not None:
        token = source.put_token if handler.command == "PUT" else source.get_token
    if handler.command not in ("PUT", "GET") or not token:
        return _storage_error(handler, 404, "NoSuchKey", "The specified key does not exist.")
    if not secrets.compare_digest(_signature(handler), token):
        return _storage_error(handler, 403, "AccessDenied", "Access Denied")
    if handler.command == "GET":
        return handler.send_bytes(200, source.data or b"", {"Content-Type": "application/gzip"})
    fault = sim.faults.take(BLOB_FAULT)
    if fault and fault["status"]:
        message = fault["message"] or "Access Denied"
        return _storage_error(handler, int(fault["status"]), "AccessDenied", message)
    with sim.state.lock:
        source.data = body
    sim.state.record_event("PUT", f"/source-blobs/{source_id}.tgz", None, f"{len(body)} bytes")
    handler.send_bytes(200, b"", {"ETag": f'"{hashlib.md5(body).hexdigest()}"'})  # noqa: S324


def _storage_error(handler, status, code, message):
    xml = f"<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>{code}</Code>"
    xml += f"<Message>{message}</Message></Error>"
    handler.send_bytes(status, xml.encode(), {"Content-Type": "application/xml"})


def _source_for(sim, url):
    """The simulator's own source behind a get URL, None for any other URL."""
    prefix = f"{sim.api_url}/source-blobs/"
    path, _, query = (url or "").partition("?")
    match = BLOB_PATH.match(path.removeprefix(sim.api_url)) if path.startswith(prefix) else None
    source = sim.state.sources.get(match["id"]) if match else None
    if source is None or not secrets.compare_digest(f"signature={source.get_token}", query):
        return None
    return source


# -- builds -----------------------------------------------------------------------------------


def build_json(sim, app, build):
    return {
        "app": {"id": app.id},
        "buildpacks": None,
        "created_at": build.created_at,
        "generation": "cedar",
        "id": build.id,
        "output_stream_url": f"{sim.api_url}/build-output/{build.id}",
        "release": {"id": build.release_id} if build.release_id else None,
        "slug": {"id": build.slug_id} if build.slug_id else None,
        "source_blob": {
            "checksum": build.checksum,
            "url": build.source_url,
            "version": build.version,
            "version_description": None,
        },
        "stack": STACK,
        "status": build.status,
        "updated_at": build.updated_at,
        "user": {"email": build.user_email, "id": build.user_id},
    }


def create_build(call, app):
    found, body = call.app(app), call.json()
    blob = body.get("source_blob")
    if not isinstance(blob, dict) or not isinstance(blob.get("url"), str) or not blob["url"]:
        raise ApiError(422, "invalid_params", "source_blob.url is required.")
    build = Build(
        app_id=found.id,
        user_email=call.account.email,
        user_id=call.account.id,
        source_url=blob["url"],
        checksum=blob.get("checksum"),
        version=blob.get("version"),
    )
    found.builds.append(build)
    call.summary = f"build {(build.version or '')[:7]}"
    threading.Thread(target=_run, args=(call.sim, found, build), daemon=True).start()
    return 201, build_json(call.sim, found, build)


def _build(call, app, build_id):
    found = call.app(app)
    build = next((b for b in found.builds if b.id == build_id), None)
    if build is None:
        raise ApiError(404, "not_found", "Couldn't find that build.")
    return found, build


def list_builds(call, app):
    found = call.app(app)
    return Listing([(build_json(call.sim, found, b), {"id": b.id}) for b in found.builds])


def get_build(call, app, build):
    found, build = _build(call, app, build)
    return build_json(call.sim, found, build)


def cancel_build(call, app, build):
    found, build = _build(call, app, build)
    if build.status != "pending":
        message = f"Can only cancel pending builds. Build {build.id} has status '{build.status}'."
        raise ApiError(422, "invalid_params", message)
    build.canceled.set()
    build.say(CANCELED)
    build.status, build.updated_at = "failed", now_iso()
    call.summary = f"cancel build {build.id[:8]}"
    return build_json(call.sim, found, build)


def _run(sim, app, build):
    """Fetch, check and compile the source, its lines written as they come; release it when
    it compiled. A canceled build stops where it is: the cancel set its status."""
    fault = sim.faults.take(BUILD_FAULT, wait=False)

    def say(line):
        with sim.state.lock:
            if not build.canceled.is_set():
                build.say(line)

    files, problem = _files(sim, build)
    if problem:
        say(problem)
    compiled = files is not None and compile_source(
        say, files.__contains__, lambda: _pause(build, fault)
    )
    with sim.state.lock:
        if build.canceled.is_set():
            return
        if compiled and fault and fault["status"]:
            build.say(fault["message"] or " !     Build failed.")
            compiled = False
        if compiled:
            # The slug is the tarball: its release phase and one-off dynos run its files, which
            # the app's git repository never received.
            data = _source_for(sim, build.source_url).data
            release = release_commit(
                sim, app, build.version, build.user_email, procfile=_procfile(data)
            )
            sim.state.slug_sources[release.slug_id] = data
            build.release_id, build.slug_id = release.id, release.slug_id
            say_released(build.say, release.version, app.web_url)
        build.status, build.updated_at = ("succeeded" if compiled else "failed"), now_iso()


def _pause(build, fault):
    build.canceled.wait(fault["delay"] if fault else 0.05)


def _files(sim, build):
    """(the names at the top of the tarball, None) or (None, the build's failure line)."""
    with sim.state.lock:
        source = _source_for(sim, build.source_url)
        data = source.data if source else None
    if not data:
        return None, " !     Unable to fetch source: nothing was uploaded at source_blob.url."
    checksum = "SHA256:" + hashlib.sha256(data).hexdigest()
    if build.checksum and not secrets.compare_digest(build.checksum, checksum):
        return None, f" !     Checksum mismatch: the source is {checksum}."
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            names = [name.removeprefix("./") for name in archive.getnames()]
    except (tarfile.TarError, OSError, EOFError):
        return None, " !     The source is not a gzipped tarball."
    return _top_level(names), None


def _wrapper(names) -> str:
    """The one folder a tarball's files are wrapped in (as GitHub makes them), else ""."""
    names = [name.removeprefix("./") for name in names if name.removeprefix("./")]
    tops = {name.split("/")[0] for name in names}
    if len(tops) == 1 and any("/" in name for name in names):
        return tops.pop() + "/"
    return ""


def _procfile(data) -> str:
    """The tarball's top-level Procfile ("" when it has none: no release phase)."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        wrapper = _wrapper(archive.getnames())
        for member in archive.getmembers():
            if member.isfile() and member.name.removeprefix("./") == f"{wrapper}Procfile":
                return archive.extractfile(member).read().decode(errors="replace")
    return ""


def extract_slug(data, target):
    """Write a Build API slug's files into `target` (a dyno's checkout of its release)."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        wrapper = _wrapper(archive.getnames())
        members = []
        for member in archive.getmembers():
            name = member.name.removeprefix("./").removeprefix(wrapper)
            if name:
                member.name = name
                members.append(member)
        archive.extractall(target, members=members, filter="data")


def _top_level(names):
    """The tarball's top-level names; a tarball of one folder (as GitHub makes) counts from
    inside it."""
    wrapper = _wrapper(names)
    names = [name.removeprefix(wrapper) for name in names]
    return {name.split("/")[0] for name in names if name}


# -- the build's output stream ----------------------------------------------------------------


def is_stream_path(path):
    return STREAM_PATH.match(path) is not None


def _find(sim, build_id):
    for app in sim.state.apps:
        for build in app.builds:
            if build.id == build_id:
                return build
    return None


def _start(handler):
    """The first byte asked for by `Range: bytes=N-`, 0 without one."""
    found = re.fullmatch(r"bytes=(\d+)-", handler.headers.get("Range", "").strip())
    return int(found[1]) if found else 0


def handle_stream(handler):
    """The build's output as text/plain, followed until the build ends."""
    sim = handler.server.sim
    build_id = STREAM_PATH.match(handler.path.partition("?")[0])["id"]
    with sim.state.lock:
        build = _find(sim, build_id)
        total = len(build.output) if build else 0
    if build is None:
        return handler.send_bytes(404, b"Not found\n", {"Content-Type": "text/plain"})
    start = _start(handler)
    if start > total:
        return handler.send_bytes(416, b"", {"Content-Range": f"bytes */{total}"})
    drop = sim.faults.take(STREAM_FAULT.replace("{id}", build_id)) or sim.faults.take(STREAM_FAULT)
    handler.close_connection = True
    handler.send_response(206 if start else 200)
    handler.send_header("Content-Type", "text/plain; charset=utf-8")
    handler.send_header("Cache-Control", "no-cache")
    handler.send_header("Connection", "close")
    handler.end_headers()
    _follow(sim, handler, build, start, drop)


def _follow(sim, handler, build, sent, drop):
    while not sim.stopping.is_set():
        with sim.state.lock:
            data, done = bytes(build.output[sent:]), build.status != "pending"
        if data:
            with contextlib.suppress(OSError):
                handler.wfile.write(data)
                handler.wfile.flush()
            sent += len(data)
            if drop:
                return  # the connection drops before the build ended
        if done:
            return
        time.sleep(0.05)
