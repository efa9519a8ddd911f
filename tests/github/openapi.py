"""Check requests and responses against GitHub's OpenAPI description (the excerpt the
simulator holds). OpenAPI 3.0's `nullable` becomes JSON Schema's null type."""

import json
import re
from pathlib import Path

import jsonschema

EXCERPT = Path(__file__).resolve().parents[2] / "github_simulator" / "github-openapi-excerpt.json"


def _plain(node):
    if isinstance(node, list):
        return [_plain(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _plain(value) for key, value in node.items()}
    if node.pop("nullable", False):
        if isinstance(node.get("type"), str) and "$ref" not in node:
            node["type"] = [node["type"], "null"]
            if "enum" in node:
                node["enum"] = [*node["enum"], None]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


DOCUMENT = _plain(json.loads(EXCERPT.read_text()))


def _follow(ref):
    node = DOCUMENT
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _deref(node):
    return _follow(node["$ref"]) if "$ref" in node else node


def _validate(schema, instance):
    validator = jsonschema.Draft7Validator({**DOCUMENT, **schema})
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def operation(path, method):
    return DOCUMENT["paths"][path][method.lower()]


def check_request(path, method, body):
    op = operation(path, method)
    if "requestBody" not in op:
        assert body is None
        return
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    _validate(schema, body)


def check_response(path, method, status, body):
    responses = operation(path, method)["responses"]
    assert str(status) in responses, f"{method} {path}: GitHub does not answer {status}"
    response = _deref(responses[str(status)])
    schema = response["content"]["application/json"]["schema"]
    _validate(schema, body)


TEMPLATES = [
    ("/user", r"/user"),
    ("/repos/{owner}/{repo}/deployments", r"/repos/[^/]+/[^/]+/deployments"),
    (
        "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
        r"/repos/[^/]+/[^/]+/deployments/\d+/statuses",
    ),
]


def template_of(path):
    for template, pattern in TEMPLATES:
        if re.fullmatch(pattern, path):
            return template
    raise AssertionError(f"{path} is not a path of the excerpt")


def check_exchanges(exchanges):
    """Every request and response the simulator saw, against the description; how many."""
    for method, path, body, status, answer in exchanges:
        template = template_of(path)
        check_request(template, method, body)
        check_response(template, method, status, answer)
    return len(exchanges)
