"""The Build API against the simulator: sources, uploads, builds with the git receiver's rules,
their output stream, cancel and faults; every answer valid against the official schema."""

import hashlib
import io
import tarfile
import time
from urllib.parse import unquote, urlsplit

import pytest
import requests

from heroku_simulator.compiler import FAIL_MARKER
from tests.heroku_sim.fixtures import APP
from tests.sim.test_schema import _link_for, _target_schema, _validate

pytestmark = pytest.mark.slow
SHA = "ab" * 20


def tarball(files) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def valid(sim, method, path, response):
    assert response.status_code < 300, response.text
    _validate(response.json(), _target_schema(*_link_for(method, unquote(path))))
    return response.json()


def upload(sim, data) -> str:
    source = valid(sim, "POST", "/sources", sim.api("POST", "/sources"))
    put = requests.put(source["source_blob"]["put_url"], data=data, timeout=10)
    assert put.status_code == 200, put.text
    return source["source_blob"]["get_url"]


def start_build(sim, data, version=SHA, checksum=True):
    url = upload(sim, data)
    blob = {"url": url, "version": version}
    if checksum:
        blob["checksum"] = "SHA256:" + hashlib.sha256(data).hexdigest()
    path = f"/apps/{APP}/builds"
    return valid(sim, "POST", path, sim.api("POST", path, json={"source_blob": blob}))


def finished(sim, build, timeout=10):
    path = f"/apps/{APP}/builds/{build['id']}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = valid(sim, "GET", path, sim.api("GET", path))
        if found["status"] != "pending":
            return found
        time.sleep(0.05)
    raise AssertionError("the build did not finish")


def output(build, start=0):
    headers = {"Range": f"bytes={start}-"} if start else {}
    return requests.get(build["output_stream_url"], headers=headers, timeout=10)


def test_a_build_of_an_uploaded_tarball_releases_its_commit(heroku_sim):
    build = start_build(heroku_sim, tarball({"Procfile": "web: gunicorn app\n"}))
    assert build["status"] == "pending"
    text = output(build).text
    done = finished(heroku_sim, build)
    assert done["status"] == "succeeded"
    assert "-----> Building on the Heroku-24 stack" in text and "Released v" in text
    release_path = f"/apps/{APP}/releases/{done['release']['id']}"
    release = valid(heroku_sim, "GET", release_path, heroku_sim.api("GET", release_path))
    slug_path = f"/apps/{APP}/slugs/{done['slug']['id']}"
    assert release["slug"]["id"] == done["slug"]["id"]
    assert heroku_sim.api("GET", slug_path).json()["commit"] == SHA
    assert heroku_sim.app_state()["current_commit"] == SHA
    listed = f"/apps/{APP}/builds"
    assert [b["id"] for b in valid(heroku_sim, "GET", listed, heroku_sim.api("GET", listed))] == [
        build["id"]
    ]


def test_a_tarball_with_the_fail_marker_fails_as_a_push_of_it_would(heroku_sim):
    build = start_build(heroku_sim, tarball({"app/Procfile": "web: x\n", f"app/{FAIL_MARKER}": ""}))
    done = finished(heroku_sim, build)
    assert done["status"] == "failed" and done["release"] is None
    assert "Push rejected, failed to compile Python app." in output(done).text
    assert heroku_sim.app_state()["current_commit"] is None


def test_a_checksum_that_does_not_match_fails_the_build(heroku_sim):
    data = tarball({"Procfile": "web: x\n"})
    url = upload(heroku_sim, data)
    blob = {"url": url, "version": SHA, "checksum": "SHA256:" + "0" * 64}
    build = heroku_sim.api("POST", f"/apps/{APP}/builds", json={"source_blob": blob}).json()
    assert finished(heroku_sim, build)["status"] == "failed"
    assert "Checksum mismatch" in output(build).text


def test_the_put_url_is_the_only_credential_for_the_upload(heroku_sim):
    source = heroku_sim.api("POST", "/sources").json()["source_blob"]
    wrong = source["put_url"].split("?")[0] + "?signature=guess"
    refused = requests.put(wrong, data=b"x", timeout=10)
    assert refused.status_code == 403 and "AccessDenied" in refused.text
    assert requests.put(source["get_url"], data=b"x", timeout=10).status_code == 403


def test_an_injected_fault_refuses_the_upload_in_storage_words(heroku_sim):
    heroku_sim.fault("PUT /source-blobs/{id}", status=403, message="Request has expired")
    source = heroku_sim.api("POST", "/sources").json()["source_blob"]
    refused = requests.put(source["put_url"], data=b"x", timeout=10)
    assert refused.status_code == 403 and "Request has expired" in refused.text


def test_an_injected_build_failure_fails_with_its_message(heroku_sim):
    heroku_sim.fault("BUILD /apps/{app}/builds", status=500, message=" !     Build server gone.")
    build = start_build(heroku_sim, tarball({"Procfile": "web: x\n"}))
    assert finished(heroku_sim, build)["status"] == "failed"
    assert output(build).text.rstrip().endswith("Build server gone.")


def test_a_pending_build_can_be_canceled_and_releases_nothing(heroku_sim):
    heroku_sim.fault("BUILD /apps/{app}/builds", delay=30)
    build = start_build(heroku_sim, tarball({"Procfile": "web: x\n"}))
    path = f"/apps/{APP}/builds/{build['id']}"
    canceled = valid(heroku_sim, "DELETE", path, heroku_sim.api("DELETE", path))
    assert canceled["status"] == "failed"
    assert heroku_sim.api("DELETE", path).status_code == 422
    time.sleep(0.2)
    assert heroku_sim.app_state()["builds"][0]["canceled"] is True
    assert heroku_sim.app_state()["current_commit"] is None


def test_a_dropped_stream_resumes_from_a_range(heroku_sim):
    heroku_sim.fault("BUILD /apps/{app}/builds", delay=0.5)
    heroku_sim.fault("GET /build-output/{id}", count=1)
    build = start_build(heroku_sim, tarball({"Procfile": "web: x\n"}))
    first = output(build).content  # ends at the compile's delay: the build is still pending
    assert b"Python app detected" in first and b"Released" not in first
    rest = output(build, len(first))
    assert rest.status_code == 206
    whole = first + rest.content
    assert whole.decode().count("-----> Python app detected") == 1
    assert "Released v" in whole.decode()
    assert urlsplit(build["output_stream_url"]).path.startswith("/build-output/")
