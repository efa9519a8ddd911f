"""Canary: run the whole wizard and settings pages, then look everywhere for the secrets.

The API key and every private key generated on the way must appear nowhere, in any encoding
(raw, base64, URL-encoded), in any response body or header, any log record, or any column of
any table, except as ciphertext in their own encrypted columns.
"""

import base64
import logging
from urllib.parse import quote, quote_plus

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_ssh_private_key
from django.db import connection
from django.test import Client

from herokucd import crypto
from projects.models import DeployKey, HerokuCredential, Role
from tests.projects.test_wizard_fixtures import *  # noqa: F403
from tests.projects.test_wizard_fixtures import SETTINGS, SETUP

pytestmark = pytest.mark.django_db
REPOSITORY_TOKEN = "ghp_CanaryOfTheSetupSweep0123456789abcd"
CIRCLE = (
    "deployment:\n  production:\n    branch: production\n    heroku:\n      appname: foo-bar-123\n"
)


class Recorder:
    """A test client that keeps every response, following redirects one by one."""

    def __init__(self, client):
        self.client, self.responses = client, []

    def get(self, url):
        return self._follow(self.client.get(url))

    def post(self, url, data=None):
        return self._follow(self.client.post(url, data or {}))

    def _follow(self, response):
        self.responses.append(response)
        while response.status_code in (301, 302):
            response = self.client.get(response["Location"])
            self.responses.append(response)
        return response


def encodings(secret: str) -> set[str]:
    raw = secret.encode()
    forms = {secret, quote(secret, safe=""), quote_plus(secret)}
    forms |= {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    forms |= {base64.b64encode(b":" + raw).decode()}  # HTTP Basic with an empty user
    return {form.rstrip("=") for form in forms}


def private_key_forms(pem: str) -> set[str]:
    forms = encodings(pem)
    forms |= {line for line in pem.splitlines() if len(line) >= 20 and "PRIVATE" not in line}
    seed = load_ssh_private_key(pem.encode(), None).private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    forms |= {seed.hex(), base64.b64encode(seed).decode().rstrip("=")}
    return forms


def all_cells():
    """(table, value) for every non-empty cell of every table, as text."""
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                for cell in row:
                    if isinstance(cell, memoryview | bytes):
                        cell = bytes(cell).decode("latin-1")
                    if cell not in (None, ""):
                        yield table, str(cell)


def run_everything(client, viewer_client, sim, project):
    """Every page and action of issue 4, including error paths that re-render the key field."""
    private_keys = []
    client.get(SETUP)
    client.post(SETUP, {"api_key": sim.api_key + "-extra"})  # malformed: re-rendered
    sim.fault("GET /account", status=503, count=2)  # one POST, retried once
    client.post(SETUP, {"api_key": sim.api_key})  # Heroku down: re-rendered
    client.post(SETUP, {"api_key": sim.api_key})
    client.get(SETUP + "1/")
    client.post(SETUP + "1/", {"api_key": ""})
    client.post(SETUP + "2/set-user/")
    private_keys.append(DeployKey.objects.get().private_key)
    client.post(SETUP + "2/replace/")
    private_keys.append(DeployKey.objects.get().private_key)
    client.post(SETUP + "3/", {"name": "staging", "branch": "main", "app_name": "Bad"})
    client.post(SETUP + "3/", {"name": "staging", "branch": "main", "app_name": "foo-bar-123"})
    environment = project.environments.get()
    options = f"{SETTINGS}environments/{environment.pk}/"
    client.get(options)
    client.post(
        options,
        {
            "name": "staging",
            "branch": "main",
            "app_name": "foo-bar-123",
            "heroku_branch": "main",
            "maintenance_mode": "off",
            "maintenance_page_url": "https://example.com/m",
            "migration_preset": "django",
            "migration_timeout": 400,
            "pre_deploy_timeout": 600,
            "post_deploy_timeout": 600,
            "health_check_status": 200,
            "health_check_retries": 0,
            "health_check_delay": 5,
        },
    )
    client.post(SETTINGS + "import/", {"circle_yml": CIRCLE, "confirm": "1"})
    client.get(SETTINGS)
    client.get(project.get_absolute_url())
    client.post(SETUP + "2/remove/")
    client.get(SETUP + "2/")
    viewer_client.get(SETTINGS)
    viewer_client.get(options)
    return private_keys


def test_secrets_appear_only_as_ciphertext(client_for, alice, bob_as, project, sim, caplog):
    caplog.set_level(logging.DEBUG)
    admin = Recorder(client_for(alice))
    viewer = Client()  # client_for would sign the same client in again
    viewer.force_login(bob_as(Role.VIEWER), backend="projects.backends.ModelBackend")
    # A repository token, as the project form stores it (tests/security/test_repositories.py
    # follows it through git too).
    project.repository_url = "https://github.com/acme/web.git"
    project.repository_userinfo = f"ci-bot:{REPOSITORY_TOKEN}"
    project.save()
    private_keys = run_everything(admin, Recorder(viewer), sim, project)
    assert HerokuCredential.objects.get().api_key == sim.api_key  # the wizard really ran
    assert len(set(private_keys)) == 2

    secrets = {"API key": encodings(sim.api_key), "repository token": encodings(REPOSITORY_TOKEN)}
    for n, pem in enumerate(private_keys):
        secrets[f"private key {n}"] = private_key_forms(pem)

    responses = admin.responses
    assert len(responses) > 20
    for response in responses:
        text = response.content.decode("utf-8", "replace")
        headers = "\n".join(f"{k}: {v}" for k, v in response.items())
        headers += "\n" + str(response.cookies)
        assert_absent(secrets, text + headers, f"response {response.request['PATH_INFO']}")

    assert caplog.records, "nothing was logged: the log check would prove nothing"
    for record in caplog.records:
        text = f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        assert_absent(secrets, text, f"log record {record.name}")

    ciphertexts = 0
    for table, cell in all_cells():
        assert_absent(secrets, cell, f"table {table}")
        ciphertexts += cell.startswith(crypto.key_id(crypto.settings.FIELD_ENCRYPTION_KEYS[0]))
    assert ciphertexts >= 2  # the API key and the repository token are there, as ciphertext


def assert_absent(secrets, text, where):
    for name, forms in secrets.items():
        for form in forms:
            assert form not in text, f"the {name} appears in {where}"


def test_the_canary_finds_a_planted_secret_in_any_encoding(project, sim):
    from projects.models import AuditEvent

    planted = base64.b64encode(sim.api_key.encode()).decode()
    AuditEvent.objects.create(project=project, action="x", details={"note": planted})
    secrets = {"API key": encodings(sim.api_key)}
    with pytest.raises(AssertionError, match="the API key appears in table projects_auditevent"):
        for table, cell in all_cells():
            assert_absent(secrets, cell, f"table {table}")
