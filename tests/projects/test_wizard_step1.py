"""Step 1: the Heroku API key, checked with GET /account before it is saved."""

import uuid

import pytest

from herokucd.crypto import keyed_hash
from projects.models import AuditEvent, HerokuCredential, Project
from tests.projects.test_wizard_fixtures import *  # noqa: F403
from tests.projects.test_wizard_fixtures import SETUP, page

pytestmark = pytest.mark.django_db


def test_it_shows_step_1_of_3_with_the_key_field(admin):
    response = admin.get(SETUP)
    assert response.status_code == 200
    assert "Step 1 of 3" in page(response)
    assert '<label for="id_api_key">Heroku API key</label>' in page(response)
    assert 'type="password"' in page(response)


def test_it_saves_a_valid_key_encrypted_with_the_heroku_account(admin, project, sim, alice):
    response = admin.post(SETUP, {"api_key": f"  {sim.api_key}\n"}, follow=True)
    assert response.redirect_chain[-1][0] == f"{SETUP}2/"
    assert "Saved the API key of Heroku account deployer@example.com" in page(response)
    credential = HerokuCredential.objects.get(project=project)
    assert credential.api_key == sim.api_key
    assert credential.account_email == "deployer@example.com"
    assert credential.account_id
    assert credential.set_by == alice
    assert credential.validated_at is not None
    assert credential.key_hash == keyed_hash(sim.api_key)
    assert AuditEvent.objects.get(project=project).action == "credential.set"


def test_it_shows_a_stored_key_masked_and_never_in_the_input(admin, with_key, sim):
    body = page(admin.get(SETUP + "1/"))
    assert "••••••••" + sim.api_key[-4:] in body
    assert sim.api_key not in body
    assert f"A key ending {sim.api_key[-4:]} is saved; leave empty to keep it" in body


def test_submitting_empty_keeps_the_stored_key(admin, with_key, sim):
    response = admin.post(SETUP + "1/", {"api_key": ""}, follow=True)
    assert "Kept the stored Heroku API key." in page(response)
    assert HerokuCredential.objects.get().api_key == sim.api_key


def test_empty_without_a_stored_key_asks_for_one(admin, sim):
    response = admin.post(SETUP, {"api_key": "  "})
    assert "Paste the Heroku API key of the deploy account." in page(response)
    assert not HerokuCredential.objects.exists()


def test_it_rejects_a_key_heroku_does_not_know_and_clears_the_field(admin, sim):
    unknown = f"HRKU-{uuid.uuid4()}"
    response = admin.post(SETUP, {"api_key": unknown})
    assert "Heroku rejected this API key" in page(response)
    assert unknown not in page(response)
    assert not HerokuCredential.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("status", [500, 503])
def test_it_saves_nothing_when_heroku_is_down(admin, sim, status):
    sim.fault("GET /account", status=status)
    response = admin.post(SETUP, {"api_key": sim.api_key})
    assert "Could not reach Heroku, nothing was saved: " in page(response)
    assert sim.api_key not in page(response)
    assert not HerokuCredential.objects.exists()


def test_it_saves_nothing_when_heroku_is_unreachable(admin, settings, sim):
    settings.HEROKU_API_URL = "http://127.0.0.1:9"  # discard port: connection refused
    response = admin.post(SETUP, {"api_key": sim.api_key})
    assert "Could not reach Heroku, nothing was saved: Heroku could not be reached" in page(
        response
    )
    assert not HerokuCredential.objects.exists()


@pytest.mark.parametrize(
    "key",
    [
        "0123abcd-0123-4abc-8def-0123456789ab",
        "HRKU-0123abcd-0123-4abc-8def-0123456789ab",
        "HRKU-" + "A" * 30 + "b_-9" * 7 + "zz",
    ],
)
def test_it_accepts_the_three_heroku_key_forms(admin, sim, key):
    # The simulator only knows its own keys, so a well-formed key gets as far as Heroku's 401.
    response = admin.post(SETUP, {"api_key": key})
    assert "Heroku rejected this API key" in page(response)


@pytest.mark.parametrize("key", ["hello", "HRKU-short", "0123abcd0123-4abc-8def-0123456789ab"])
def test_it_rejects_other_strings_showing_the_expected_forms(admin, sim, key):
    response = admin.post(SETUP, {"api_key": key})
    body = page(response)
    assert "This does not look like a Heroku API key. Expected a UUID" in body
    assert "HRKU- followed by a UUID" in body
    assert "HRKU- followed by 60 letters" in body
    assert not HerokuCredential.objects.exists()


def test_it_warns_when_another_project_uses_the_same_key(admin, sim, alice, git_repo):
    other = Project.objects.create(name="Other", slug="other", repository_url=str(git_repo.path))
    HerokuCredential.objects.create(
        project=other,
        api_key=sim.api_key,
        key_hash=keyed_hash(sim.api_key),
        account_email="deployer@example.com",
        account_id="x",
        validated_at="2024-01-01T00:00Z",
    )
    response = admin.post(SETUP, {"api_key": sim.api_key}, follow=True)
    body = page(response)
    assert "Another herokucd project already uses this Heroku API key" in body
    assert "75 git requests per hour per key" in body


def test_replacing_the_key_is_audited_without_the_key(admin, with_key, sim, project):
    admin.post(SETUP + "1/", {"api_key": sim.other_api_key})
    credential = HerokuCredential.objects.get(project=project)
    assert credential.api_key == sim.other_api_key
    assert credential.account_email == "other@example.com"
    event = AuditEvent.objects.get(action="credential.replaced")
    assert sim.other_api_key not in str(event.details)
