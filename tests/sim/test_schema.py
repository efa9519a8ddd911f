"""Every implemented link answers with a body valid against the official schema's targetSchema."""

import json
import re
from pathlib import Path
from urllib.parse import unquote

import jsonschema
import pytest

from heroku_simulator.api import SCHEMA_PATH
from tests.heroku_sim.fixtures import APP, default_state, start_heroku_sim

pytestmark = pytest.mark.slow
SCHEMA = json.loads(SCHEMA_PATH.read_text())
# Where Heroku's official schema is kept beside the repository, when it is (the team's reference).
REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / SCHEMA_PATH.name
PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ4j6lh6o3wE9R9mX0m3Ki9mJ0l4q2yqv7zvG3XWmQ0c sim@test"
)

# (method, path, json body); paths use real values, matched against the schema's hrefs
CALLS = [
    ("GET", "/account", None),
    ("GET", "/account/rate-limits", None),
    ("GET", "/account/keys", None),
    ("GET", "/account/keys/{key}", None),
    ("GET", "/apps", None),
    ("GET", f"/apps/{APP}", None),
    ("PATCH", f"/apps/{APP}", {"maintenance": True}),
    ("GET", f"/apps/{APP}/formation", None),
    ("GET", f"/apps/{APP}/formation/web", None),
    ("PATCH", f"/apps/{APP}/formation/web", {"quantity": 2, "size": "Standard-1X"}),
    ("PATCH", f"/apps/{APP}/formation", {"updates": [{"type": "worker", "quantity": "+1"}]}),
    ("GET", f"/apps/{APP}/config-vars", None),
    ("PATCH", f"/apps/{APP}/config-vars", {"FOO": "bar"}),
    ("GET", f"/apps/{APP}/releases", None),
    ("GET", f"/apps/{APP}/releases/2", None),
    ("POST", f"/apps/{APP}/releases", {"release": "{release}"}),
    ("POST", f"/apps/{APP}/releases", {"slug": "{slug}", "description": "Deploy c0ffee again"}),
    ("GET", f"/apps/{APP}/slugs/{{slug}}", None),
    ("POST", f"/apps/{APP}/dynos", {"command": "echo hi", "attach": True}),
    ("GET", f"/apps/{APP}/dynos", None),
    ("GET", f"/apps/{APP}/dynos/web.1", None),
    ("POST", f"/apps/{APP}/dynos/{{dyno}}/actions/stop", None),
    ("DELETE", f"/apps/{APP}/dynos/web.1", None),
    ("DELETE", f"/apps/{APP}/dynos", None),
    ("POST", f"/apps/{APP}/log-sessions", {"dyno": "web.1", "lines": 10}),
    ("GET", f"/apps/{APP}/addons", None),
    ("GET", f"/apps/{APP}/addon-attachments", None),
    (
        "POST",
        "/actions/addon-attachments/resolve",
        {"addon_attachment": "DATABASE_URL", "app": APP},
    ),
    ("GET", "/schema", None),
]
# Links dropped from today's schema (docs/heroku.md §2.1): validate against the definition itself.
DEFINITION_ONLY = {("POST", "/account/keys"): "key", ("DELETE", "/account/keys/{key}"): "key"}


def _href_regex(href):
    return re.compile("^" + re.sub(r"\\\{\\\([^)]*\\\)\\\}", "[^/]+", re.escape(href)) + "$")


def _links():
    for name, definition in SCHEMA["definitions"].items():
        for link in definition.get("links", []):
            yield name, link
    for link in SCHEMA["links"]:
        if link.get("method"):
            yield "root", link


LINKS = [(name, link, _href_regex(link["href"])) for name, link in _links()]


def _link_for(method, path):
    for name, link, regex in LINKS:
        if link.get("method") == method and regex.match(path):
            return name, link
    raise AssertionError(f"no schema link for {method} {path}")


def _target_schema(name, link):
    target = link.get("targetSchema") or {"$ref": f"#/definitions/{name}"}
    return {**target, "definitions": SCHEMA["definitions"]}


def _validate(body, schema):
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(body), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


@pytest.fixture(scope="module")
def seeded_sim():
    """The simulator with code released on APP, so that its releases have a slug."""
    state = default_state()
    state["apps"][0]["deployed_commits"] = ["c0ffee" * 6 + "c0ff"]
    with start_heroku_sim(state) as sim:
        yield sim


@pytest.fixture
def heroku_sim(seeded_sim):
    seeded_sim.reset()
    return seeded_sim


@pytest.fixture
def values(heroku_sim):
    key = heroku_sim.api("POST", "/account/keys", json={"public_key": PUBLIC_KEY})
    _validate(key.json(), _target_schema("key", {}))
    release = heroku_sim.api("GET", f"/apps/{APP}/releases/2").json()
    dyno = heroku_sim.api("POST", f"/apps/{APP}/dynos", json={"command": "sleep 5"}).json()
    slug = heroku_sim.api("GET", f"/apps/{APP}/releases").json()[-1]["slug"]["id"]
    return {"key": key.json()["id"], "release": release["id"], "dyno": dyno["name"], "slug": slug}


def _fill(template, values):
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items()}
    if isinstance(template, str):
        return template.replace("{{", "{").format(**values) if "{" in template else template
    return template


@pytest.mark.parametrize(("method", "path", "body"), CALLS, ids=[f"{m} {p}" for m, p, _ in CALLS])
def test_it_answers_as_the_schema_says(heroku_sim, values, method, path, body):
    name, link = _link_for(method, unquote(_fill(path, values)))
    response = heroku_sim.api(method, _fill(path, values), json=_fill(body, values))
    assert response.status_code < 300, response.text
    _validate(response.json(), _target_schema(name, link))


@pytest.mark.parametrize(("method", "path"), list(DEFINITION_ONLY))
def test_key_routes_missing_from_the_schema_answer_key_objects(heroku_sim, values, method, path):
    path = path.format(**values)
    body = {"public_key": PUBLIC_KEY.replace("sim@test", "second")} if method == "POST" else None
    if method == "POST":
        heroku_sim.api("DELETE", f"/account/keys/{values['key']}")
    response = heroku_sim.api(method, path, json=body)
    assert response.status_code < 300, response.text
    _validate(
        response.json(),
        _target_schema(DEFINITION_ONLY[(method, path.replace(values["key"], "{key}"))], {}),
    )


def test_error_bodies_carry_id_and_message(heroku_sim):
    body = heroku_sim.api("GET", "/apps/not-yours-app").json()
    assert set(body) == {"id", "message"}


@pytest.mark.skipif(not REFERENCE.exists(), reason="no reference copy beside the repository")
def test_the_simulators_schema_is_herokus_official_one_unchanged():
    assert SCHEMA_PATH.read_bytes() == REFERENCE.read_bytes()
