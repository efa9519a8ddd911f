"""Webhooks tried as an attacker would: with a captured delivery, the GitLab token, an unmerged
commit, a stale timestamp. Each attack is reproduced against real git, the real pipeline and the
Heroku simulator over HTTP, and shows what it gets now."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from deploys import jobs, webhooks
from deploys.models import Deploy, State, Trigger
from deploys.services import request_deploy
from deploys.trigger_models import Outcome, WebhookEndpoint, WebhookEvent
from projects import circle_import, settings_forms, setup_forms
from projects.models import AuditEvent, MaintenanceMode
from tests.concurrency import post_all_at_once
from tests.triggers import payloads
from tests.triggers.conftest import (  # noqa: F401 (fixtures)
    GITLAB_TOKEN,
    SECRET,
    credential,
    deliver,
    endpoint,
    environment,
    queue,
    redis_up,
    sign,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def careful(environment):  # noqa: F811
    """production with maintenance and a scale-down: a deploy that got far would change the app."""
    environment.maintenance_mode = MaintenanceMode.DEPLOY
    environment.scale_down_types = "worker"
    environment.save()
    return environment


@pytest.fixture
def unmerged(git_repo):
    """A commit on a feature branch that was never merged into main; main is checked out again."""
    git_repo.git("checkout", "-q", "-b", "feature")
    sha = git_repo.commit("evil.txt", "not reviewed\n", "Unreviewed change")
    git_repo.git("checkout", "-q", "main")
    return sha


def run(deploy_number):
    deploy = Deploy.objects.get(number=deploy_number)
    jobs.run_deploy(deploy.pk)
    deploy.refresh_from_db()
    return deploy


def changes_to_the_app(heroku_sim):
    """Every call that changed something on Heroku (the simulator records all but reads)."""
    return heroku_sim.state()["events"], heroku_sim.app_state()["pushes"]


# -- the commit must be on the branch ---------------------------------------------------------


def test_a_gitlab_pipeline_naming_an_unmerged_commit_fails_before_any_heroku_call(
    deliver,  # noqa: F811
    careful,
    unmerged,
    git_repo,
    heroku_sim,
    queue,  # noqa: F811
):
    body = payloads.gitlab_pipeline(ref="main", sha=unmerged)
    response = deliver(body, provider="gitlab", event="Pipeline Hook")
    assert response.status_code == 202, response.json()
    deploy = run(response.json()["deploy"])
    tip = git_repo.git("rev-parse", "main")
    assert deploy.state == State.FAILED
    assert deploy.reason == (
        f"Commit {unmerged[:7]} is not on branch main (tip {tip[:7]}): herokucd deploys only "
        "commits of the mapped branch. Merge it into main, or deploy it by hand."
    )
    assert changes_to_the_app(heroku_sim) == ([], [])  # no maintenance, no scale, no push


def test_the_attackers_literal_body_with_the_signing_secret_as_gitlab_token_gets_401(
    client,
    endpoint,  # noqa: F811
    careful,
    unmerged,
):
    body = json.dumps({"ref": "main", "sha": unmerged}).encode()
    for headers in (
        {"X-Gitlab-Token": SECRET},
        {"X-Gitlab-Token": SECRET, "X-Gitlab-Event": "Pipeline Hook"},
    ):
        response = client.post(
            endpoint.get_absolute_url(), data=body, content_type="application/json", headers=headers
        )
        assert response.status_code == 401, response.content
    assert not WebhookEvent.objects.exists()
    assert not Deploy.objects.exists()


def test_an_older_commit_of_the_branch_is_still_deployed(
    deliver,  # noqa: F811
    environment,  # noqa: F811
    git_repo,
    heroku_sim,
    queue,  # noqa: F811
):
    older = git_repo.head()
    git_repo.commit("later.txt", "later\n", "A later commit")
    response = deliver(payloads.github_workflow_run(branch="main", sha=older))
    deploy = run(response.json()["deploy"])
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert heroku_sim.app_state()["pushes"][-1]["sha"] == older


def test_a_short_sha_of_the_branch_tip_is_deployed_as_the_full_sha(
    deliver,  # noqa: F811
    environment,  # noqa: F811
    git_repo,
    heroku_sim,
    queue,  # noqa: F811
):
    body = {"branch": "main", "sha": git_repo.head()[:7], "status": "success"}
    deploy = run(deliver(body, provider="generic", event="").json()["deploy"])
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert deploy.sha == git_repo.head()


def test_a_manual_deploy_of_another_branchs_commit_keeps_working(
    careful, unmerged, heroku_sim, alice
):
    deploy = request_deploy(careful, sha=unmerged, branch="main", user=alice)
    deploy = run(deploy.number)
    assert deploy.trigger == Trigger.MANUAL
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert heroku_sim.app_state()["pushes"][-1]["sha"] == unmerged


# -- a replay makes no second deploy ----------------------------------------------------------


def signed_github(sha, delivery=None):
    body = json.dumps(payloads.github_workflow_run(branch="main", sha=sha)).encode()
    headers = {
        "X-GitHub-Event": "workflow_run",
        "X-Hub-Signature-256": f"sha256={sign(SECRET, body)}",
        "Content-Type": "application/json",
    }
    if delivery is not None:
        headers["X-GitHub-Delivery"] = delivery
    return body, headers


def post(client, endpoint, body, headers):  # noqa: F811
    return client.post(
        endpoint.get_absolute_url(), data=body, content_type="application/json", headers=headers
    )


def test_the_same_signed_github_body_with_a_new_delivery_id_or_none_makes_no_second_deploy(
    client,
    endpoint,  # noqa: F811
    environment,  # noqa: F811
    git_repo,
    queue,  # noqa: F811
):
    sha = git_repo.head()
    first = post(client, endpoint, *signed_github(sha, "d-original"))
    assert first.status_code == 202
    for delivery in ("d-forged-1", None, "d-forged-2"):
        again = post(client, endpoint, *signed_github(sha, delivery))
        assert again.status_code == 200, again.json()
        assert again.json() == {
            "outcome": "replay",
            "reason": (
                f"Commit {sha[:7]} already has a webhook deploy to production: #1 (queued). "
                "Another build of the same commit within 60 minutes deploys nothing more (to "
                "deploy it again, retry #1)."
            ),
            "deploy": 1,
        }
    assert Deploy.objects.count() == 1
    assert len(queue.get_jobs()) == 1
    # Each replay is listed with what herokucd did, next to the deploy it did not repeat.
    replays = WebhookEvent.objects.exclude(delivery_id="d-original")
    assert [(e.outcome, e.deploy.number) for e in replays] == [(Outcome.NO_DEPLOY, 1)] * 3


def test_a_replay_after_the_deploy_ran_is_still_refused(
    client,
    endpoint,  # noqa: F811
    environment,  # noqa: F811
    git_repo,
    heroku_sim,
    queue,  # noqa: F811
):
    sha = git_repo.head()
    deploy = run(post(client, endpoint, *signed_github(sha[:12], "a")).json()["deploy"])
    assert (deploy.state, deploy.sha) == (State.SUCCEEDED, sha)  # the full sha now
    again = post(client, endpoint, *signed_github(sha[:12], "b"))
    assert again.status_code == 200
    assert "#1 (succeeded)" in again.json()["reason"]
    assert len(heroku_sim.app_state()["pushes"]) == 1


def test_after_the_replay_window_the_same_commit_deploys_again(
    client,
    endpoint,  # noqa: F811
    environment,  # noqa: F811
    git_repo,
    queue,  # noqa: F811
    settings,
):
    settings.WEBHOOK_REPLAY_WINDOW = 600
    sha = git_repo.head()
    assert post(client, endpoint, *signed_github(sha, "a")).status_code == 202
    Deploy.objects.update(created_at=datetime.now(UTC) - timedelta(seconds=601))
    again = post(client, endpoint, *signed_github(sha, "b"))
    assert again.status_code == 202
    assert Deploy.objects.count() == 2


def test_the_replay_window_is_per_environment(
    client,
    endpoint,  # noqa: F811
    environment,  # noqa: F811
    project,
    git_repo,
    queue,  # noqa: F811
):
    from projects.models import Environment

    Environment.objects.create(
        project=project, name="staging", branch="develop", app_name="foo-bar-staging"
    )
    sha = git_repo.head()
    git_repo.git("branch", "develop")
    assert post(client, endpoint, *signed_github(sha, "a")).status_code == 202
    body = json.dumps(payloads.github_workflow_run(branch="develop", sha=sha)).encode()
    headers = {**signed_github(sha)[1], "X-Hub-Signature-256": f"sha256={sign(SECRET, body)}"}
    assert post(client, endpoint, body, headers).status_code == 202
    assert sorted(Deploy.objects.values_list("environment_name", flat=True)) == [
        "production",
        "staging",
    ]


def test_ten_replays_with_new_delivery_ids_at_once_make_one_deploy(
    endpoint,  # noqa: F811
    environment,  # noqa: F811
    live_server,
    queue,  # noqa: F811
):
    sha = "e" * 40
    deliveries = [signed_github(sha, f"d-{n}" if n % 3 else None) for n in range(10)]
    responses = post_all_at_once(live_server.url + endpoint.get_absolute_url(), deliveries)
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 9 + [202], [r.text for r in responses]
    assert Deploy.objects.count() == 1
    assert len(queue.get_jobs()) == 1
    assert {r.json()["deploy"] for r in responses} == {1}


# -- signed timestamps ------------------------------------------------------------------------


def iso(moment):
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("offset", "words"),
    [(timedelta(minutes=-6), "seconds old"), (timedelta(minutes=6), "seconds in the future")],
)
def test_a_circleci_delivery_with_a_stale_happened_at_is_refused(
    deliver,  # noqa: F811
    environment,  # noqa: F811
    offset,
    words,
):
    happened_at = iso(datetime.now(UTC) + offset)
    body = payloads.circleci_workflow(happened_at=happened_at)
    response = deliver(body, provider="circleci", event="workflow-completed")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error.startswith(f"The delivery is stale: its signed happened_at ({happened_at}) is ")
    assert words in error and "within 300 seconds" in error
    assert not WebhookEvent.objects.exists()
    assert not Deploy.objects.exists()


def test_a_circleci_delivery_of_4_minutes_ago_deploys(
    deliver,  # noqa: F811
    environment,  # noqa: F811
    queue,  # noqa: F811
):
    body = payloads.circleci_workflow(happened_at=iso(datetime.now(UTC) - timedelta(minutes=4)))
    assert deliver(body, provider="circleci", event="workflow-completed").status_code == 202
    assert Deploy.objects.count() == 1


def test_a_circleci_delivery_without_happened_at_gets_400(deliver, environment):  # noqa: F811
    body = payloads.circleci_workflow()
    del body["happened_at"]
    response = deliver(body, provider="circleci", event="workflow-completed")
    assert response.status_code == 400
    assert response.json()["error"] == "The body has no happened_at."


@pytest.mark.parametrize(
    "timestamp",
    [
        lambda now: int(now.timestamp()) - 301,
        lambda now: iso(now - timedelta(hours=2)),
        lambda now: (now - timedelta(minutes=10)).isoformat(),
    ],
    ids=["unix-seconds", "iso-z", "iso-offset"],
)
def test_a_generic_delivery_with_a_stale_signed_timestamp_is_refused(
    deliver,  # noqa: F811
    environment,  # noqa: F811
    timestamp,
):
    body = {
        "branch": "main",
        "sha": payloads.SHA,
        "status": "success",
        "timestamp": timestamp(datetime.now(UTC)),
    }
    response = deliver(body, provider="generic", event="")
    assert response.status_code == 401
    assert "The delivery is stale: its signed timestamp" in response.json()["error"]
    assert not Deploy.objects.exists()


@pytest.mark.parametrize(
    "timestamp",
    [lambda now: int(now.timestamp()), lambda now: iso(now)],
    ids=["unix-seconds", "iso"],
)
def test_a_generic_delivery_with_a_fresh_signed_timestamp_deploys(
    deliver,  # noqa: F811
    environment,  # noqa: F811
    queue,  # noqa: F811
    timestamp,
):
    body = {
        "branch": "main",
        "sha": payloads.SHA,
        "status": "success",
        "timestamp": timestamp(datetime.now(UTC)),
    }
    assert deliver(body, provider="generic", event="").status_code == 202


@pytest.mark.parametrize("timestamp", ["yesterday", "2026-11-27T12:00:00", True, None, 10**20])
def test_a_generic_timestamp_that_is_not_a_time_gets_400(
    deliver,  # noqa: F811
    environment,  # noqa: F811
    timestamp,
):
    body = {"branch": "main", "sha": payloads.SHA, "status": "success", "timestamp": timestamp}
    response = deliver(body, provider="generic", event="")
    assert response.status_code == 400
    assert response.json()["error"] == (
        "The timestamp must be an ISO 8601 time with its zone (2026-11-27T12:00:00Z) or Unix "
        "seconds."
    )


def test_a_generic_delivery_without_a_sha_gets_400(deliver, environment):  # noqa: F811
    response = deliver({"branch": "main", "status": "success"}, provider="generic", event="")
    assert response.status_code == 400
    assert response.json()["error"] == "The body has no sha."
    assert not Deploy.objects.exists()


# -- GitLab's own token -----------------------------------------------------------------------


def test_the_hmac_secret_in_x_gitlab_token_is_refused(deliver, environment):  # noqa: F811
    body = payloads.gitlab_pipeline(ref="main")
    response = deliver(body, provider="gitlab", event="Pipeline Hook", gitlab_token=SECRET)
    assert response.status_code == 401
    assert response.json()["error"] == (
        "X-Gitlab-Token does not match the webhook's GitLab token (not its signing secret)."
    )
    assert not WebhookEvent.objects.exists()


def test_the_gitlab_token_deploys_and_cannot_sign_for_other_providers(
    deliver,  # noqa: F811
    environment,  # noqa: F811
    queue,  # noqa: F811
):
    gitlab = deliver(payloads.gitlab_pipeline(ref="main"), provider="gitlab", event="Pipeline Hook")
    assert gitlab.status_code == 202
    body = payloads.github_workflow_run(sha="f" * 40)
    assert deliver(body, secret=GITLAB_TOKEN, delivery="x").status_code == 401
    assert Deploy.objects.count() == 1


def test_without_a_gitlab_token_gitlab_deliveries_are_refused_with_what_to_do(
    deliver,  # noqa: F811
    endpoint,  # noqa: F811
    environment,  # noqa: F811
):
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(gitlab_token_hash="")
    for token in (SECRET, "", GITLAB_TOKEN):
        body = payloads.gitlab_pipeline(ref="main")
        response = deliver(body, provider="gitlab", event="Pipeline Hook", gitlab_token=token)
        assert response.status_code == 401
        assert response.json()["error"] == (
            "This webhook has no GitLab token: create one on the project's Triggers page and "
            "paste it as the Secret token of the GitLab webhook."
        )


def test_the_gitlab_token_is_made_on_the_triggers_page_shown_once_and_stored_hashed(
    client_for, alice, project
):
    client = client_for(alice)
    client.post("/projects/foo-bar/triggers/webhook/")
    made = WebhookEndpoint.objects.get()
    page = client.post("/projects/foo-bar/triggers/webhook/gitlab-token/").content.decode()
    token = re.search(r'<pre id="secret"[^>]*>(.*?)</pre>', page)[1]
    assert len(token) == 64 and token != made.secret
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM deploys_webhookendpoint WHERE id = %s", [made.pk])
        row = " ".join(str(value) for value in cursor.fetchone())
    assert token not in row
    later = client.get("/projects/foo-bar/triggers/").content.decode()
    assert token not in later
    assert f"••••••••{token[-4:]}" in later
    assert "Replace GitLab token" in later
    assert AuditEvent.objects.filter(action="webhook.gitlab_token_created").exists()
    made.refresh_from_db()
    webhooks.verify("gitlab", {"X-Gitlab-Token": token}, b"", made.valid_gitlab_token_hashes())


def test_replacing_the_gitlab_token_keeps_the_old_one_for_24_hours(
    deliver,  # noqa: F811
    endpoint,  # noqa: F811
    environment,  # noqa: F811
    queue,  # noqa: F811
):
    new = endpoint.new_gitlab_token()
    body = payloads.gitlab_pipeline(ref="feature-x")
    old_ok = deliver(body, provider="gitlab", event="Pipeline Hook", delivery="a")
    new_ok = deliver(body, provider="gitlab", event="Pipeline Hook", delivery="b", gitlab_token=new)
    assert (old_ok.status_code, new_ok.status_code) == (202, 202)
    endpoint.previous_gitlab_token_valid_until = datetime.now(UTC) - timedelta(seconds=1)
    endpoint.save()
    late = deliver(body, provider="gitlab", event="Pipeline Hook", delivery="c")
    assert late.status_code == 401


def test_a_viewer_cannot_make_a_gitlab_token(client_for, bob_as, project):
    from projects.models import Role

    WebhookEndpoint.objects.create(project=project, secret="x" * 64)
    response = client_for(bob_as(Role.VIEWER)).post(
        "/projects/foo-bar/triggers/webhook/gitlab-token/"
    )
    assert response.status_code == 403
    assert WebhookEndpoint.objects.get().gitlab_token_hash == ""


def test_an_outsider_cannot_make_a_gitlab_token(client_for, charlie, project):
    WebhookEndpoint.objects.create(project=project, secret="x" * 64)
    response = client_for(charlie).post("/projects/foo-bar/triggers/webhook/gitlab-token/")
    assert response.status_code == 404
    assert WebhookEndpoint.objects.get().gitlab_token_hash == ""


# -- values matched whole ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "event", "body"),
    [
        ("generic", "", {"branch": "main", "sha": payloads.SHA + "\n", "status": "success"}),
        ("generic", "", {"branch": "main", "sha": payloads.SHA[:7] + "\n", "status": "success"}),
        ("github", "workflow_run", payloads.github_workflow_run(sha=payloads.SHA + "\n")),
        ("gitlab", "Pipeline Hook", payloads.gitlab_pipeline(sha=payloads.SHA + "\n")),
    ],
    ids=["generic", "generic-short", "github", "gitlab"],
)
def test_a_sha_with_a_trailing_newline_gets_400(
    deliver,  # noqa: F811
    environment,  # noqa: F811
    provider,
    event,
    body,
):
    response = deliver(body, provider=provider, event=event)
    assert response.status_code == 400
    assert response.json()["error"] == "The commit sha must be 7 to 40 hexadecimal characters."
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        (webhooks.SHA, "a" * 40),
        (setup_forms.APP_NAME, "foo-bar-123"),
        (setup_forms.API_KEY, "01234567-89ab-cdef-0123-456789abcdef"),
        (settings_forms.PROCESS_TYPE, "worker"),
        (settings_forms.CONFIG_VAR, "DATABASE_URL"),
        (circle_import.PUSH, "git push heroku main"),
        (circle_import.HEROKU, "heroku run rake db:migrate"),
    ],
)
def test_validation_patterns_match_whole_values_only(pattern, value):
    match = pattern.fullmatch if pattern is webhooks.SHA else pattern.match
    assert match(value)
    assert not match(value + "\n")
