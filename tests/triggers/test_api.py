"""The JSON API: bearer tokens, the same permissions as the pages."""

import pytest

from deploys.logformat import STDOUT, SYSTEM, encode
from deploys.models import Deploy, DeployStep, LogChunk, Trigger
from deploys.trigger_models import ApiToken
from projects.models import Environment, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def staging(project):
    return Environment.objects.create(
        project=project, name="staging", branch="develop", app_name="foo-bar-staging"
    )


@pytest.fixture
def api(client):
    """Call the API as `user` (through a fresh token), or with `token` as given."""

    def call(method, path, user=None, token=None, **kwargs):
        if user is not None:
            token = ApiToken.issue(user, "tests")[1]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return getattr(client, method)(f"/api/v1/{path}", headers=headers, **kwargs)

    return call


def a_deploy(staging):
    deploy = Deploy.objects.create(
        project=staging.project,
        number=7,
        environment=staging,
        environment_name="staging",
        app_name=staging.app_name,
        branch="develop",
        sha="a" * 40,
        state="running",
    )
    DeployStep.objects.create(
        deploy=deploy, position=1, name="checkout", title="Check out", state="succeeded"
    )
    DeployStep.objects.create(
        deploy=deploy, position=2, name="push", title="Push to Heroku", state="running"
    )
    lines = [
        encode(1, SYSTEM, 1000, "Checking out develop"),
        encode(2, STDOUT, 2000, "one"),
        encode(2, STDOUT, 3000, "two"),
        encode(2, STDOUT, 4000, "three"),
    ]
    LogChunk.objects.create(deploy=deploy, first_line=1, line_count=4, content="\n".join(lines))
    return deploy


@pytest.mark.parametrize("header", [None, "Bearer nope", "Bearer ", "Basic YWxpY2U6cGFzcw=="])
def test_it_refuses_a_request_without_a_valid_token(client, project, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/projects/", headers=headers)
    assert response.status_code == 401
    assert "/account/tokens/" in response.json()["error"]


def test_a_signed_in_browser_session_is_not_enough(client_for, alice, project):
    assert client_for(alice).get("/api/v1/projects/").status_code == 401


def test_it_lists_the_users_projects_and_environments(api, alice, staging):
    response = api("get", "projects/", user=alice)
    assert response.status_code == 200
    (listed,) = response.json()["projects"]
    assert (listed["slug"], listed["name"]) == ("foo-bar", "Foo Bar")
    assert listed["environments"] == [
        {"name": "staging", "app": "foo-bar-staging", "branch": "develop", "auto_deploy": True}
    ]


def test_an_outsider_sees_no_project_and_gets_404(api, charlie, staging):
    deploy = a_deploy(staging)
    assert api("get", "projects/", user=charlie).json() == {"projects": []}
    for path in [
        "projects/foo-bar/",
        f"projects/foo-bar/deploys/{deploy.number}/",
        f"projects/foo-bar/deploys/{deploy.number}/log/",
        "projects/foo-bar/deploys/",
    ]:
        assert api("get", path, user=charlie).status_code == 404, path
    response = api(
        "post",
        "projects/foo-bar/deploys/",
        user=charlie,
        data={"environment": "staging", "branch": "develop"},
        content_type="application/json",
    )
    assert response.status_code == 404
    assert not Deploy.objects.exclude(pk=deploy.pk).exists()


def test_a_viewer_may_read_but_not_deploy(api, bob_as, staging):
    bob = bob_as(Role.VIEWER)
    assert api("get", "projects/foo-bar/", user=bob).status_code == 200
    response = api(
        "post",
        "projects/foo-bar/deploys/",
        user=bob,
        data={"environment": "staging", "branch": "develop"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert response.json()["error"] == "This needs the deployer role."
    assert not Deploy.objects.exists()


def test_a_deployer_triggers_a_deploy(api, bob_as, staging):
    bob = bob_as(Role.DEPLOYER)
    response = api(
        "post",
        "projects/foo-bar/deploys/",
        user=bob,
        data={"environment": "staging", "branch": "develop"},
        content_type="application/json",
    )
    assert response.status_code == 202
    deploy = Deploy.objects.get()
    assert response.json()["number"] == deploy.number
    assert response.json()["state"] == "queued"
    assert (deploy.branch, deploy.triggered_by, deploy.trigger) == ("develop", bob, Trigger.MANUAL)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{nope", "must be JSON"),
        (b'{"branch": "develop"}', "Name the environment"),
        (b'{"environment": "staging"}', "Give a branch or a sha"),
        (
            b'{"environment": "qa", "branch": "develop"}',
            "No environment 'qa'; this project has: staging.",
        ),
        (b'{"environment": "staging", "sha": "' + b"a" * 41 + b'"}', "7 to 40 hexadecimal"),
        (b'{"environment": "staging", "sha": "xyz1234"}', "7 to 40 hexadecimal"),
        (b'{"environment": "staging", "branch": "a b"}', "not a valid git branch name"),
        (b'{"environment": "staging", "branch": "ma\\u0000in"}', "not a valid git branch"),
        (b'{"environment": "stag\\u0000ing", "branch": "main"}', "No such environment"),
    ],
)
def test_a_bad_deploy_request_says_what_is_wrong(api, alice, staging, body, error):
    response = api(
        "post", "projects/foo-bar/deploys/", user=alice, data=body, content_type="application/json"
    )
    assert response.status_code == 400
    assert error in response.json()["error"]
    assert not Deploy.objects.exists()


def test_it_shows_a_deploys_state_and_steps(api, alice, staging):
    a_deploy(staging)
    data = api("get", "projects/foo-bar/deploys/7/", user=alice).json()
    assert (data["state"], data["environment"], data["sha"]) == ("running", "staging", "a" * 40)
    assert [(s["name"], s["state"]) for s in data["steps"]] == [
        ("checkout", "succeeded"),
        ("push", "running"),
    ]


def test_it_reads_log_lines_after_a_sequence_number(api, alice, staging):
    a_deploy(staging)
    data = api("get", "projects/foo-bar/deploys/7/log/?after=2", user=alice).json()
    assert [(line["number"], line["text"]) for line in data["lines"]] == [(3, "two"), (4, "three")]
    assert data["next_after"] == 4
    later = api("get", "projects/foo-bar/deploys/7/log/?after=4", user=alice).json()
    assert (later["lines"], later["next_after"]) == ([], 4)
    bad = api("get", "projects/foo-bar/deploys/7/log/?after=x", user=alice)
    assert bad.status_code == 400


def test_tokens_are_stored_hashed_and_record_their_last_use(api, alice, project):
    token, value = ApiToken.issue(alice, "release script")
    assert token.token_hash != value and value not in token.token_hash
    assert token.prefix == value[:10]
    assert api("get", "projects/", token=value).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_a_deactivated_users_token_stops_working(api, alice, project):
    value = ApiToken.issue(alice, "script")[1]
    alice.is_active = False
    alice.save()
    assert api("get", "projects/", token=value).status_code == 401
