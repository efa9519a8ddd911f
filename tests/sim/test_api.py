"""The simulator's Platform API over real HTTP: routes, errors, pagination, faults, reset."""

import subprocess
import time
from pathlib import Path

import pytest

from tests.heroku_sim.fixtures import APP, OTHER_APP, default_state

pytestmark = pytest.mark.slow


def test_it_answers_account_info_with_rate_limit_and_request_id(heroku_sim):
    response = heroku_sim.api("GET", "/account")
    assert response.status_code == 200
    assert response.json()["email"] == "deployer@example.com"
    assert int(response.headers["RateLimit-Remaining"]) == 4499
    assert response.headers["Request-Id"]


def test_it_accepts_the_sdk_accept_variant(heroku_sim):
    headers = {"Accept": "application/vnd.heroku+json; version=3.sdk"}
    assert heroku_sim.api("GET", "/account", headers=headers).status_code == 200


def test_it_refuses_a_request_without_the_v3_accept_header(heroku_sim):
    response = heroku_sim.api("GET", "/account", headers={"Accept": "application/json"})
    assert response.status_code == 406
    assert response.json()["id"] == "not_acceptable"


@pytest.mark.parametrize("key", ["", "HRKU-00000000-0000-4000-8000-000000000000"])
def test_it_refuses_a_missing_or_unknown_key(heroku_sim, key):
    response = heroku_sim.http.get(
        heroku_sim.url("/account"),
        headers={
            "Accept": "application/vnd.heroku+json; version=3",
            "Authorization": f"Bearer {key}",
        },
    )
    assert response.status_code == 401
    assert response.json()["id"] == "unauthorized"


@pytest.mark.parametrize("key", ["0d6b8a8e-1f7c-4f8e-9a3b-2c1d0e9f8a7b", "HRKU-" + "aB3_-" * 12])
def test_it_accepts_bare_uuid_and_long_hrku_keys(heroku_sim_factory, key):
    state = default_state()
    state["accounts"][0]["api_key"] = key
    sim = heroku_sim_factory(state)
    assert sim.api("GET", "/account", key=key).status_code == 200


def test_it_hides_another_accounts_app(heroku_sim):
    response = heroku_sim.api("GET", f"/apps/{OTHER_APP}")
    assert response.status_code == 403
    assert response.json()["id"] == "forbidden"
    assert (
        heroku_sim.api("PATCH", f"/apps/{OTHER_APP}", json={"maintenance": True}).status_code == 403
    )


def test_it_answers_404_for_an_unknown_app_and_route(heroku_sim):
    assert heroku_sim.api("GET", "/apps/no-such-app").json()["id"] == "not_found"
    assert heroku_sim.api("GET", "/nowhere").status_code == 404


def test_it_lists_only_visible_apps(heroku_sim):
    names = [app["name"] for app in heroku_sim.api("GET", "/apps").json()]
    assert names == [APP]


def test_it_addresses_an_app_by_id_and_gives_realistic_urls(heroku_sim):
    app = heroku_sim.api("GET", f"/apps/{APP}").json()
    assert heroku_sim.api("GET", f"/apps/{app['id']}").json()["name"] == APP
    assert app["git_url"] == f"https://git.heroku.com/{APP}.git"
    assert app["web_url"].startswith(f"https://{APP}-") and len(app["web_url"]) == len(
        f"https://{APP}-123456789012.herokuapp.com/"
    )


def test_it_switches_maintenance_and_records_the_event(heroku_sim):
    response = heroku_sim.api("PATCH", f"/apps/{APP}", json={"maintenance": True})
    assert response.json()["maintenance"] is True
    state = heroku_sim.state()
    assert state["apps"][0]["maintenance"] is True
    event = state["events"][-1]
    assert (event["method"], event["path"], event["app"]) == ("PATCH", f"/apps/{APP}", APP)


def test_it_rejects_a_bad_app_name(heroku_sim):
    response = heroku_sim.api("PATCH", f"/apps/{APP}", json={"name": "Bad_Name"})
    assert response.status_code == 422
    assert response.json()["id"] == "invalid_params"


def test_it_scales_with_string_and_relative_quantities(heroku_sim):
    updates = [
        {"type": "worker", "quantity": "+1", "size": "Standard-1X"},
        {"type": "web", "quantity": "0"},
    ]
    response = heroku_sim.api("PATCH", f"/apps/{APP}/formation", json={"updates": updates})
    assert response.status_code == 200
    formation = heroku_sim.app_state()["formation"]
    assert formation["worker"] == {
        "quantity": 3,
        "size": "Standard-1X",
        "command": formation["worker"]["command"],
    }
    assert formation["web"]["quantity"] == 0
    dynos = [d["name"] for d in heroku_sim.api("GET", f"/apps/{APP}/dynos").json()]
    assert sorted(dynos) == ["worker.1", "worker.2", "worker.3"]


def test_it_scales_one_type_with_dyno_size(heroku_sim):
    body = {"quantity": 1, "dyno_size": {"name": "Standard-2X"}}
    response = heroku_sim.api("PATCH", f"/apps/{APP}/formation/worker", json=body)
    assert response.json()["dyno_size"]["name"] == "Standard-2X"
    assert response.json()["quantity"] == 1


@pytest.mark.parametrize("quantity", ["-5", "many", -1])
def test_it_rejects_a_bad_quantity(heroku_sim, quantity):
    body = {"quantity": quantity}
    response = heroku_sim.api("PATCH", f"/apps/{APP}/formation/worker", json=body)
    assert response.status_code == 422
    assert response.json()["id"] == "invalid_params"


def test_it_answers_404_for_an_unknown_process_type(heroku_sim):
    assert heroku_sim.api("GET", f"/apps/{APP}/formation/clock").status_code == 404


def test_it_sets_and_deletes_config_vars_with_releases(heroku_sim):
    before = len(heroku_sim.app_state()["releases"])
    heroku_sim.api("PATCH", f"/apps/{APP}/config-vars", json={"A": "1"})
    config = heroku_sim.api("PATCH", f"/apps/{APP}/config-vars", json={"A": None}).json()
    assert "A" not in config and "DATABASE_URL" in config
    descriptions = [r["description"] for r in heroku_sim.app_state()["releases"][before:]]
    assert descriptions == ["Set A config vars", "Remove A config vars"]


def test_it_paginates_releases_by_version_descending(heroku_sim):
    for number in range(5):
        heroku_sim.api("PATCH", f"/apps/{APP}/config-vars", json={"N": str(number)})
    first = heroku_sim.api(
        "GET", f"/apps/{APP}/releases", headers={"Range": "version ..; max=3, order=desc"}
    )
    assert first.status_code == 206
    assert [r["version"] for r in first.json()] == [8, 7, 6]
    second = heroku_sim.api(
        "GET", f"/apps/{APP}/releases", headers={"Range": first.headers["Next-Range"]}
    )
    assert [r["version"] for r in second.json()] == [5, 4, 3]
    everything = heroku_sim.api("GET", f"/apps/{APP}/releases")
    assert everything.status_code == 200
    assert [r["version"] for r in everything.json()] == list(range(1, 9))


def test_it_rolls_back_to_an_old_release(heroku_sim):
    heroku_sim.api("PATCH", f"/apps/{APP}/config-vars", json={"A": "1"})
    old = heroku_sim.api("GET", f"/apps/{APP}/releases/3").json()
    response = heroku_sim.api("POST", f"/apps/{APP}/releases", json={"release": old["id"]})
    assert response.status_code == 201
    assert response.json()["description"] == "Rollback to v3"
    assert response.json()["current"] is True
    assert "A" not in heroku_sim.api("GET", f"/apps/{APP}/config-vars").json()


def _ssh_key(tmp_path):
    path = tmp_path / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me@laptop", "-f", path], check=True
    )
    listed = subprocess.run(
        ["ssh-keygen", "-lf", f"{path}.pub"], check=True, capture_output=True, text=True
    )
    return Path(f"{path}.pub").read_text(), listed.stdout.split()[1]


def test_it_adds_lists_and_deletes_ssh_keys(heroku_sim, tmp_path):
    public_key, fingerprint = _ssh_key(tmp_path)
    created = heroku_sim.api("POST", "/account/keys", json={"public_key": public_key})
    assert created.status_code == 201
    key = created.json()
    assert key["fingerprint"] == fingerprint
    assert key["comment"] == "me@laptop"
    assert heroku_sim.api("GET", f"/account/keys/{key['id']}").json()["id"] == key["id"]
    assert heroku_sim.api("DELETE", f"/account/keys/{key['id']}").status_code == 200
    assert heroku_sim.api("GET", "/account/keys").json() == []


def test_it_rejects_a_malformed_ssh_key(heroku_sim):
    response = heroku_sim.api("POST", "/account/keys", json={"public_key": "ssh-ed25519 nope"})
    assert response.status_code == 422


def test_it_answers_429_when_the_token_bucket_is_empty(heroku_sim_factory):
    state = default_state()
    state["api_rate_limit"] = {"capacity": 3, "per_minute": 0}
    sim = heroku_sim_factory(state)
    statuses = [sim.api("GET", "/account").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = sim.api("GET", "/account")
    assert response.json()["id"] == "rate_limit"
    assert response.headers["RateLimit-Remaining"] == "0"
    assert sim.api("GET", "/account/rate-limits").json() == {"remaining": 0}


def test_it_injects_a_counted_fault_on_a_route(heroku_sim):
    heroku_sim.fault("PATCH /apps/{app}", status=503, count=2)
    statuses = [
        heroku_sim.api("PATCH", f"/apps/{APP}", json={"maintenance": True}).status_code
        for _ in range(3)
    ]
    assert statuses == [503, 503, 200]


def test_it_delays_a_route(heroku_sim):
    heroku_sim.fault("GET /account", delay=0.5, count=1)
    started = time.monotonic()
    assert heroku_sim.api("GET", "/account").status_code == 200
    assert time.monotonic() - started >= 0.5


def test_it_resets_to_the_seeded_state(heroku_sim):
    heroku_sim.api("PATCH", f"/apps/{APP}", json={"maintenance": True})
    heroku_sim.fault("GET /account", status=500)
    heroku_sim.reset()
    assert heroku_sim.app_state()["maintenance"] is False
    assert heroku_sim.state()["events"] == []
    assert heroku_sim.api("GET", "/account").status_code == 200


def test_it_captures_a_pg_backup_through_the_data_api(heroku_sim):
    resolved = heroku_sim.api(
        "POST",
        "/actions/addon-attachments/resolve",
        json={"addon_attachment": "DATABASE_URL", "app": APP},
    ).json()
    addon_id = resolved[0]["addon"]["id"]
    assert heroku_sim.api("GET", f"/client/v11/databases/{addon_id}").status_code == 200
    backup = heroku_sim.api("POST", f"/client/v11/databases/{addon_id}/backups").json()
    assert backup["finished_at"] is None
    time.sleep(0.3)
    done = heroku_sim.api("GET", f"/client/v11/apps/{APP}/transfers/{backup['uuid']}").json()
    assert done["succeeded"] is True and done["finished_at"]
    assert heroku_sim.app_state()["backups"][0]["uuid"] == backup["uuid"]


def test_it_refuses_control_requests_it_cannot_parse(heroku_sim):
    response = heroku_sim.http.post(heroku_sim.url("/__sim__/faults"), json={"status": 500})
    assert response.status_code == 422
