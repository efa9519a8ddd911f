"""The GitHub simulator answers as GitHub's OpenAPI description says, for every call herokucd
makes, and the calls herokucd makes are requests the description allows."""

import pytest
import requests

from herokucd import github
from tests.github.conftest import OTHER_TOKEN, REPO, TOKEN
from tests.github.openapi import (
    DOCUMENT,
    check_exchanges,
    check_request,
    check_response,
    template_of,
)

SHA = "3f786850e387550fdab836ed7e6dc881de23001b"


def call(sim, method, path, token=TOKEN, **kwargs):
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}
    return requests.request(method, sim.url + path, headers=headers, timeout=10, **kwargs)


def test_the_excerpt_holds_the_paths_herokucd_calls_and_their_license():
    assert set(DOCUMENT["paths"]) == {
        "/user",
        "/repos/{owner}/{repo}/deployments",
        "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
    }
    assert "deployment-status" in DOCUMENT["components"]["schemas"]
    assert DOCUMENT["info"]["license"]["name"] == "MIT"


def test_every_answer_of_a_deployment_round_trip_is_schema_valid(github_sim):
    base = f"/repos/{REPO}/deployments"
    assert call(github_sim, "GET", "/user").json()["login"] == "octocat"
    created = call(github_sim, "POST", base, json={"ref": SHA, "environment": "staging"})
    assert created.status_code == 201
    number = created.json()["id"]
    status = {"state": "success", "log_url": "https://cd.example.com/x", "environment_url": ""}
    assert call(github_sim, "POST", f"{base}/{number}/statuses", json=status).status_code == 201
    assert call(github_sim, "GET", f"{base}/{number}/statuses").json()[0]["state"] == "success"
    assert (
        call(github_sim, "GET", base, params={"environment": "staging"}).json()[0]["id"] == number
    )
    assert check_exchanges(github_sim.exchanges) == 5


def test_refusals_are_schema_valid_too(github_sim):
    assert call(github_sim, "GET", "/user", token="ghp_wrong").status_code == 401
    bad = call(github_sim, "POST", f"/repos/{REPO}/deployments", json={"environment": "x"})
    assert bad.status_code == 422
    method, _, _, status, body = github_sim.exchanges[0]
    check_response("/user", method, status, body)
    check_response("/repos/{owner}/{repo}/deployments", "POST", 422, github_sim.exchanges[1][4])


def test_a_success_marks_the_environments_earlier_successes_inactive(github_sim):
    """GitHub's auto_inactive (on by default): only the newest success stays active."""
    base = f"/repos/{REPO}/deployments"
    first = call(github_sim, "POST", base, json={"ref": SHA, "environment": "prod"}).json()["id"]
    second = call(github_sim, "POST", base, json={"ref": SHA, "environment": "prod"}).json()["id"]
    for number in (first, second):
        call(github_sim, "POST", f"{base}/{number}/statuses", json={"state": "success"})
    assert github_sim.statuses(first) == ["success", "inactive"]
    assert github_sim.statuses(second) == ["success"]
    check_exchanges(github_sim.exchanges)


def test_herokucds_client_sends_requests_the_description_allows(github_sim):
    assert github.account(TOKEN) == "octocat"
    number = github.create_deployment(TOKEN, ("octo", "shop"), SHA, "production", "herokucd #1")
    github.create_status(
        TOKEN,
        ("octo", "shop"),
        number,
        "in_progress",
        log_url="https://cd.example.com/projects/shop/deploys/1/",
        environment_url="https://shop.example.com/",
        description="x" * 300,  # cut to GitHub's 140
    )
    for method, path, body, _, _ in github_sim.exchanges:
        check_request(template_of(path), method, body)
    assert github_sim.exchanges[-1][2]["description"] == "x" * 140
    assert check_exchanges(github_sim.exchanges) == 3


def test_a_refused_token_says_so_in_githubs_words(github_sim):
    with pytest.raises(github.TokenRefused, match="Bad credentials"):
        github.account("ghp_not-a-real-token")
    assert github.account(OTHER_TOKEN) == "hubot"


def test_github_down_is_an_error_not_a_crash(github_sim):
    github_sim.down = True
    with pytest.raises(github.GitHubError, match="503"):
        github.account(TOKEN)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/octo/shop.git", ("octo", "shop")),
        ("https://github.com/octo/shop", ("octo", "shop")),
        ("git@github.com:octo/shop.git", ("octo", "shop")),
        ("ssh://git@github.com/octo/shop.git", ("octo", "shop")),
        ("https://x-access-token:abc@github.com/octo/shop.git", ("octo", "shop")),
        ("https://gitlab.com/octo/shop.git", None),
        ("https://github.com.evil.example/octo/shop.git", None),
        ("https://github.com/octo/shop/extra", None),
        ("/srv/repos/shop.git", None),
        ("https://github.com/octo/...", None),
    ],
)
def test_the_repository_comes_from_github_urls_only(url, expected):
    assert github.repository_of(url) == expected


def test_the_schema_check_catches_an_answer_github_would_not_give(github_sim):
    created = call(github_sim, "POST", f"/repos/{REPO}/deployments", json={"ref": SHA}).json()
    del created["creator"]
    with pytest.raises(AssertionError, match="creator"):
        check_response("/repos/{owner}/{repo}/deployments", "POST", 201, created)
    with pytest.raises(AssertionError, match="state"):
        check_request(
            "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses", "POST", {"state": "ok"}
        )
