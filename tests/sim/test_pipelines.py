"""Pipelines, couplings and promotions in the simulator: what `heroku pipelines:promote` and
herokucd's Promote rely on, each answer valid against the official schema."""

import time

import pytest

from tests.heroku_sim.fixtures import default_state, start_heroku_sim
from tests.sim.test_schema import _link_for, _target_schema, _validate

pytestmark = pytest.mark.slow
STAGING, PRODUCTION, LONE = "shop-staging", "shop-prod", "lone-app"
SHA = "ab12" * 10


def pipeline_state():
    state = default_state()
    owner = "deployer@example.com"
    state["apps"] += [
        {"name": STAGING, "owner": owner, "deployed_commits": [SHA]},
        {"name": PRODUCTION, "owner": owner, "formation": {"web": 2}},
        {"name": LONE, "owner": owner, "deployed_commits": [SHA]},
    ]
    state["pipelines"] = [
        {"name": "shop", "couplings": {STAGING: "staging", PRODUCTION: "production"}}
    ]
    state["promotion_seconds"] = 0.2
    return state


@pytest.fixture(scope="module")
def pipeline_sim():
    with start_heroku_sim(pipeline_state()) as sim:
        yield sim


@pytest.fixture
def sim(pipeline_sim):
    pipeline_sim.reset()
    return pipeline_sim


def checked(sim, method, path, body=None, status=200):
    """The call's answer, checked against the official schema's link for it."""
    response = sim.api(method, path, json=body)
    assert response.status_code == status, response.text
    name, link = _link_for(method, path)
    _validate(response.json(), _target_schema(name, link))
    return response.json()


def app_id(sim, name):
    return sim.api("GET", f"/apps/{name}").json()["id"]


def promote(sim, source=STAGING, target=PRODUCTION, release=None):
    coupling = checked(sim, "GET", f"/apps/{source}/pipeline-couplings")
    body = {
        "pipeline": {"id": coupling["pipeline"]["id"]},
        "source": {"app": {"id": app_id(sim, source)}},
        "targets": [{"app": {"id": app_id(sim, target)}}],
    }
    if release:
        body["source"]["release"] = {"id": release}
    return sim.api("POST", "/pipeline-promotions", json=body)


def targets_when_done(sim, promotion_id):
    path = f"/pipeline-promotions/{promotion_id}/promotion-targets"
    for _ in range(50):
        targets = checked(sim, "GET", path)
        if all(t["status"] != "pending" for t in targets):
            return targets
        time.sleep(0.05)
    raise AssertionError("the promotion never finished")


def test_couplings_name_the_pipeline_and_stage(sim):
    coupling = checked(sim, "GET", f"/apps/{PRODUCTION}/pipeline-couplings")
    assert coupling["stage"] == "production" and coupling["pipeline"]["name"] == "shop"
    pipeline = checked(sim, "GET", f"/pipelines/{coupling['pipeline']['id']}")
    assert pipeline["name"] == "shop"
    listed = checked(sim, "GET", f"/pipelines/{pipeline['id']}/pipeline-couplings")
    assert sorted(c["stage"] for c in listed) == ["production", "staging"]
    assert [p["name"] for p in checked(sim, "GET", "/pipelines")] == ["shop"]
    apps = checked(sim, "POST", "/filters/apps", {"in": {"id": [c["app"]["id"] for c in listed]}})
    assert sorted(a["name"] for a in apps) == [PRODUCTION, STAGING]


def test_an_app_outside_any_pipeline_has_no_coupling(sim):
    response = sim.api("GET", f"/apps/{LONE}/pipeline-couplings")
    assert response.status_code == 404
    assert response.json()["message"] == f"{LONE} is not part of any pipeline."


def test_a_promotion_releases_the_source_slug_on_the_target_without_a_build(sim):
    source_release = sim.app_state(STAGING)["releases"][-1]
    response = promote(sim, release=source_release["id"])
    assert response.status_code == 201, response.text
    promotion = response.json()
    _validate(promotion, _target_schema(*_link_for("POST", "/pipeline-promotions")))
    assert promotion["status"] == "pending"
    pending = checked(sim, "GET", f"/pipeline-promotions/{promotion['id']}/promotion-targets")
    assert [(t["status"], t["release"]) for t in pending] == [("pending", None)]
    [target] = targets_when_done(sim, promotion["id"])
    assert target["status"] == "succeeded" and target["error_message"] is None
    prod = sim.app_state(PRODUCTION)
    made = prod["releases"][-1]
    assert made["id"] == target["release"]["id"]
    assert (made["slug_id"], made["commit"]) == (source_release["slug_id"], SHA)
    assert made["description"] == f"Promote {STAGING} v{source_release['version']}"
    assert prod["pushes"] == []  # nothing was built: no git push, no build
    done = checked(sim, "GET", f"/pipeline-promotions/{promotion['id']}")
    assert done["status"] == "completed"
    assert done["source"]["release"]["id"] == source_release["id"]


def test_without_a_release_the_source_apps_current_one_is_promoted(sim):
    promotion = promote(sim).json()
    assert promotion["source"]["release"]["id"] == sim.app_state(STAGING)["releases"][-1]["id"]


def test_a_target_fault_fails_the_target_in_its_words(sim):
    sim.fault(f"PROMOTE {PRODUCTION}", message="Release v9 failed to start.", count=1)
    before = len(sim.app_state(PRODUCTION)["releases"])
    [target] = targets_when_done(sim, promote(sim).json()["id"])
    assert (target["status"], target["error_message"]) == ("failed", "Release v9 failed to start.")
    assert target["release"] is None
    assert len(sim.app_state(PRODUCTION)["releases"]) == before


def test_it_refuses_apps_not_in_the_pipeline_and_unknown_releases(sim):
    response = promote(sim, target=LONE)
    assert response.status_code == 422
    assert response.json()["message"] == f"{LONE} is not part of the pipeline shop."
    missing = promote(sim, release="00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert promote(sim, target=STAGING).status_code == 422  # to itself


def test_a_release_without_code_cannot_be_promoted(sim):
    first = sim.app_state(STAGING)["releases"][0]
    response = promote(sim, release=first["id"])
    assert response.status_code == 422
    assert "no release with code" in response.json()["message"]


def test_someone_elses_promotion_is_not_shown(sim):
    promotion = promote(sim).json()
    path = f"/pipeline-promotions/{promotion['id']}/promotion-targets"
    assert sim.api("GET", path, key=sim.other_api_key).status_code == 403


@pytest.mark.cli
def test_the_official_cli_promotes_staging_to_production(sim):
    result = sim.cli("pipelines:promote", "-a", STAGING)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Fetching apps from shop..." in output
    assert "Starting promotion to production..." in output
    assert "Promotion successful" in output
    assert f"{PRODUCTION}: succeeded" in output
    assert sim.app_state(PRODUCTION)["current_commit"] == SHA


@pytest.mark.cli
def test_the_official_cli_reports_a_failed_target(sim):
    sim.fault(f"PROMOTE {PRODUCTION}", message="Could not start the release.", count=1)
    result = sim.cli("pipelines:promote", "-a", STAGING)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Promotion to some apps failed" in output
    assert "Could not start the release." in output
