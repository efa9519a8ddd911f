"""What each CI's events do: green builds deploy the matching environment, the rest are recorded."""

import time

import pytest

from deploys.models import Deploy, Trigger
from deploys.trigger_models import Outcome, WebhookEvent
from tests.triggers import payloads

pytestmark = pytest.mark.django_db

GREEN = [
    ("github", "workflow_run", payloads.github_workflow_run(branch="main")),
    ("github", "check_suite", payloads.github_check_suite(branch="main")),
    ("github", "status", payloads.github_status(branches=["main"])),
    ("circleci", "workflow-completed", payloads.circleci_workflow(branch="main")),
    ("circleci", "workflow-completed", payloads.circleci_workflow_trigger_parameters("main")),
    ("gitlab", "Pipeline Hook", payloads.gitlab_pipeline(ref="main")),
    ("generic", "", {"branch": "main", "sha": payloads.SHA, "status": "success"}),
]
NOT_GREEN = [
    ("github", "workflow_run", payloads.github_workflow_run(conclusion="failure"), "failure"),
    ("github", "workflow_run", payloads.github_workflow_run(action="requested"), "requested"),
    ("github", "check_suite", payloads.github_check_suite(conclusion="cancelled"), "cancelled"),
    ("github", "status", payloads.github_status(state="pending"), "pending"),
    ("circleci", "workflow-completed", payloads.circleci_workflow(status="failed"), "failed"),
    (
        "circleci",
        "workflow-completed",
        payloads.circleci_workflow_trigger_parameters(status="canceled"),
        "canceled",
    ),
    ("gitlab", "Pipeline Hook", payloads.gitlab_pipeline(status="failed"), "failed"),
    ("generic", "", {"branch": "main", "sha": payloads.SHA, "status": "failure"}, "failure"),
]


@pytest.mark.parametrize(
    ("provider", "event", "payload"),
    GREEN,
    ids=[f"{p}-{e}-{i}" for i, (p, e, _) in enumerate(GREEN)],
)
def test_a_green_build_deploys_the_matching_environment(
    deliver, environments, provider, event, payload
):
    started = time.monotonic()
    response = deliver(payloads.fresh(payload), provider=provider, event=event)
    assert time.monotonic() - started < 1
    assert response.status_code == 202, response.json()
    deploy = Deploy.objects.get()
    assert response.json()["deploy"] == deploy.number
    assert (deploy.environment_name, deploy.branch, deploy.sha) == (
        "production",
        "main",
        payloads.SHA,
    )
    assert deploy.trigger == Trigger.WEBHOOK
    assert deploy.state == "queued"
    event_row = WebhookEvent.objects.get()
    assert (event_row.outcome, event_row.deploy, event_row.provider) == (
        Outcome.DEPLOYED,
        deploy,
        provider,
    )


@pytest.mark.parametrize(
    ("provider", "event", "payload", "status"),
    NOT_GREEN,
    ids=[f"{p}-{s}" for p, _, _, s in NOT_GREEN],
)
def test_a_build_that_is_not_green_is_recorded_without_a_deploy(
    deliver, environments, provider, event, payload, status
):
    response = deliver(payloads.fresh(payload), provider=provider, event=event)
    assert response.status_code == 202
    assert response.json()["outcome"] == Outcome.NO_DEPLOY
    assert status in response.json()["reason"]
    assert not Deploy.objects.exists()
    assert WebhookEvent.objects.get().reason == response.json()["reason"]


@pytest.mark.parametrize(
    ("branch", "environment"),
    [
        ("main", "production"),
        ("hotfix", "production"),
        ("develop", "staging"),
        ("release-2.1", "staging"),
    ],
)
def test_the_branch_selects_the_environment(deliver, environments, branch, environment):
    deliver(payloads.github_workflow_run(branch=branch))
    assert Deploy.objects.get().environment_name == environment


@pytest.mark.parametrize("branch", ["mainline", "xdevelop", "develop-2", "release", "feature/main"])
def test_a_regex_must_match_the_whole_branch(deliver, environments, branch):
    response = deliver(payloads.github_workflow_run(branch=branch))
    assert response.status_code == 202
    assert response.json()["reason"] == f"No environment deploys branch {branch}."
    assert not Deploy.objects.exists()


def test_when_two_environments_match_the_first_in_settings_order_wins(deliver, environments):
    staging, production = environments
    production.position, staging.position = 0, 1
    production.branch = "/.*/"
    production.save()
    staging.save()
    deliver(payloads.github_workflow_run(branch="develop"))
    assert Deploy.objects.get().environment_name == "production"


def test_a_status_event_deploys_the_first_matching_of_its_branches(deliver, environments):
    deliver(payloads.github_status(branches=["feature-x", "develop"]), event="status")
    deploy = Deploy.objects.get()
    assert (deploy.environment_name, deploy.branch) == ("staging", "develop")


def test_auto_deploy_off_records_no_deploy(deliver, environments):
    environments[1].auto_deploy = False
    environments[1].save()
    response = deliver(payloads.github_workflow_run(branch="main"))
    assert response.status_code == 202
    assert response.json()["reason"] == "Auto-deploy on green builds is off for production."
    assert not Deploy.objects.exists()


def test_a_gitlab_tag_pipeline_deploys_nothing(deliver, environments):
    response = deliver(
        payloads.gitlab_pipeline(ref="v1.2.0", tag=True), provider="gitlab", event="Pipeline Hook"
    )
    assert response.json()["reason"] == "The build names no branch (a tag build?)."
    assert not Deploy.objects.exists()


@pytest.mark.parametrize(
    ("provider", "event"),
    [
        ("github", "ping"),
        ("github", "push"),
        ("circleci", "job-completed"),
        ("gitlab", "Push Hook"),
    ],
)
def test_events_that_are_not_build_results_are_ignored(deliver, environments, provider, event):
    payload = payloads.circleci_workflow() if provider == "circleci" else {"zen": "Keep it simple."}
    response = deliver(payload, provider=provider, event=event)
    assert response.status_code == 202
    assert response.json()["outcome"] == Outcome.IGNORED
    assert not Deploy.objects.exists()


def test_a_replayed_delivery_gets_200_and_creates_nothing(deliver, environments):
    first = deliver(payloads.github_workflow_run(), delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    again = deliver(payloads.github_workflow_run(), delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert (first.status_code, again.status_code) == (202, 200)
    assert Deploy.objects.count() == 1
    assert WebhookEvent.objects.count() == 1


def test_a_replayed_circleci_delivery_is_recognised_by_the_body_id(deliver, environments):
    payload = payloads.circleci_workflow()
    assert deliver(payload, provider="circleci", event="workflow-completed").status_code == 202
    assert deliver(payload, provider="circleci", event="workflow-completed").status_code == 200
    assert Deploy.objects.count() == 1


@pytest.mark.parametrize(
    ("provider", "event", "body", "reason"),
    [
        ("github", "workflow_run", b"{not json", "not JSON"),
        ("github", "workflow_run", b"[1, 2]", "JSON object"),
        ("github", "workflow_run", b'{"action": "completed"}', "workflow_run"),
        ("github", "status", b'{"state": "success", "branches": []}', "sha"),
        (
            "circleci",
            "workflow-completed",
            b'{"id": "x", "workflow": {"status": "success"}}',
            "pipeline",
        ),
        ("gitlab", "Pipeline Hook", b'{"object_kind": "pipeline"}', "object_attributes"),
        ("generic", "", b'{"status": "success"}', "branch"),
        ("generic", "", b'{"branch": "main", "sha": "not-a-sha", "status": "success"}', "sha"),
        ("generic", "", b'{"branch": "ma\\u0000in", "status": "success"}', "NUL character"),
    ],
)
def test_a_malformed_body_gets_400_with_the_reason(
    deliver, environments, provider, event, body, reason
):
    response = deliver(body, provider=provider, event=event)
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    ("delivery", "reason"),
    [("a\x00b", "NUL character"), ("d" * 201, "longer than 200 characters")],
)
def test_a_delivery_id_no_ci_would_send_gets_400(deliver, environments, delivery, reason):
    body = {"branch": "main", "sha": "a" * 40, "status": "success"}
    response = deliver(body, provider="generic", event="", delivery=delivery)
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert not WebhookEvent.objects.exists()
