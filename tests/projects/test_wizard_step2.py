"""Step 2: the deploy user and the ed25519 key registered with POST /account/keys."""

import subprocess

import pytest
from cryptography.hazmat.primitives.serialization import load_ssh_private_key

from projects.models import AuditEvent, DeployKey
from tests.projects.test_wizard_fixtures import *  # noqa: F403
from tests.projects.test_wizard_fixtures import SETUP, page

pytestmark = pytest.mark.django_db
STEP2 = SETUP + "2/"


def heroku_keys(sim):
    return sim.api("GET", "/account/keys").json()


def test_step_2_needs_a_saved_api_key_first(admin, sim):
    response = admin.get(STEP2, follow=True)
    assert response.redirect_chain[-1][0] == SETUP
    assert "Save a Heroku API key first" in page(response)


def test_it_explains_https_pushes_and_what_the_key_is_for(admin, with_key):
    body = page(admin.get(STEP2))
    assert "Step 2 of 3" in body
    assert "Pushes to Heroku use HTTPS with the API key" in body
    assert "retired git over SSH in 2022" in body
    assert "Set me as the Heroku deploy user" in body


def test_set_me_registers_a_new_key_on_heroku_and_shows_it(admin, with_key, sim, alice, project):
    response = admin.post(STEP2 + "set-user/", follow=True)
    body = page(response)
    key = DeployKey.objects.get(project=project)
    assert key.deploy_user == alice
    assert key.heroku_email == "deployer@example.com"
    assert key.public_key.startswith("ssh-ed25519 ")
    assert key.public_key.endswith(" herokucd-foo-bar")
    assert load_ssh_private_key(key.private_key.encode(), None).public_key()
    [registered] = heroku_keys(sim)
    assert registered["comment"] == "herokucd-foo-bar"
    assert registered["fingerprint"] == key.fingerprint
    assert key.heroku_key_id == registered["id"]
    for shown in ("alice", "deployer@example.com", key.public_key, key.fingerprint):
        assert shown in body
    assert key.private_key not in body
    assert AuditEvent.objects.filter(action="deploy_user.set").exists()


def test_the_fingerprint_is_the_one_ssh_keygen_prints(admin, with_key, sim, project, tmp_path):
    admin.post(STEP2 + "set-user/")
    key = DeployKey.objects.get(project=project)
    path = tmp_path / "key.pub"
    path.write_text(key.public_key + "\n")
    printed = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(path)], capture_output=True, text=True
    )
    if printed.returncode == 127 or "not found" in printed.stderr:
        pytest.skip("ssh-keygen is not installed")
    assert printed.stdout.split()[1] == key.fingerprint


def test_replace_key_registers_a_new_key_and_removes_the_old_one(admin, with_key, sim, project):
    admin.post(STEP2 + "set-user/")
    old = DeployKey.objects.get(project=project).fingerprint
    response = admin.post(STEP2 + "replace/", follow=True)
    new = DeployKey.objects.get(project=project).fingerprint
    assert new != old
    assert [k["fingerprint"] for k in heroku_keys(sim)] == [new]
    assert "Replaced the SSH key" in page(response)


def test_remove_key_deletes_it_on_heroku_then_here(admin, with_key, sim, project, alice):
    admin.post(STEP2 + "set-user/")
    response = admin.post(STEP2 + "remove/", follow=True)
    key = DeployKey.objects.get(project=project)
    assert heroku_keys(sim) == []
    assert key.public_key == key.private_key == key.fingerprint == ""
    assert key.deploy_user == alice
    assert "Removed the SSH key from Heroku and from herokucd." in page(response)


def test_a_heroku_error_on_register_leaves_the_previous_key(admin, with_key, sim, project):
    admin.post(STEP2 + "set-user/")
    before = DeployKey.objects.get(project=project)
    sim.fault("POST /account/keys", status=422, message="Key is invalid.")
    response = admin.post(STEP2 + "replace/", follow=True)
    after = DeployKey.objects.get(project=project)
    assert (after.fingerprint, after.private_key) == (before.fingerprint, before.private_key)
    assert [k["fingerprint"] for k in heroku_keys(sim)] == [before.fingerprint]
    assert "Heroku did not do it, nothing was changed: " in page(response)


def test_a_failed_removal_of_the_old_key_takes_the_new_key_back(admin, with_key, sim, project):
    admin.post(STEP2 + "set-user/")
    before = DeployKey.objects.get(project=project)
    sim.fault("DELETE /account/keys/{key_id}", status=403, count=1)
    response = admin.post(STEP2 + "replace/", follow=True)
    assert DeployKey.objects.get(project=project).fingerprint == before.fingerprint
    assert [k["fingerprint"] for k in heroku_keys(sim)] == [before.fingerprint]
    assert "nothing was changed" in page(response)


def test_a_heroku_error_on_remove_keeps_the_key(admin, with_key, sim, project):
    admin.post(STEP2 + "set-user/")
    sim.fault("DELETE /account/keys/{key_id}", status=503)
    response = admin.post(STEP2 + "remove/", follow=True)
    assert DeployKey.objects.get(project=project).public_key
    assert "Heroku could not be reached" in page(response)


def test_a_key_already_gone_from_heroku_is_removed_here_too(admin, with_key, sim, project):
    admin.post(STEP2 + "set-user/")
    sim.api("DELETE", f"/account/keys/{DeployKey.objects.get().heroku_key_id}")
    admin.post(STEP2 + "remove/")
    assert DeployKey.objects.get(project=project).public_key == ""


def test_an_unknown_action_is_404(admin, with_key):
    assert admin.post(STEP2 + "explode/").status_code == 404
