"""Webhook deploys held by a lock or a freeze window: recorded with why, offered after unlock."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from deploys import gates
from deploys.models import Deploy, State
from deploys.trigger_models import Outcome, WebhookEvent
from projects.models import FreezeWindow
from tests.triggers import payloads

pytestmark = pytest.mark.django_db


def test_a_locked_environment_records_the_green_build_as_held(deliver, environments, alice):
    production = environments[1]
    gates.lock(production, alice, "release freeze for the audit")
    response = deliver(payloads.github_workflow_run(branch="main"))
    assert response.status_code == 202
    assert response.json() == {
        "outcome": "held",
        "reason": "Not deployed: production is locked by alice: release freeze for the audit.",
        "deploy": None,
    }
    assert not Deploy.objects.exists()
    event = WebhookEvent.objects.get()
    assert (event.outcome, event.environment, event.sha) == (Outcome.HELD, production, payloads.SHA)


def test_other_environments_still_deploy_while_one_is_locked(deliver, environments, alice, queue):
    gates.lock(environments[1], alice, "incident")
    deliver(payloads.github_workflow_run(branch="develop"))
    assert Deploy.objects.get().environment_name == "staging"


def test_unlocking_offers_the_newest_held_commit(deliver, environments, alice, client_for, queue):
    production = environments[1]
    gates.lock(production, alice, "incident")
    deliver(payloads.github_workflow_run(branch="main", sha="1" * 40), delivery="d-1")
    deliver(payloads.github_workflow_run(branch="main", sha="2" * 40), delivery="d-2")
    slug = production.project.slug
    page = client_for(alice).get(reverse("project", args=[slug])).content.decode()
    assert 'Commit <span class="mono">2222222</span>' in page
    assert "Deploy 2222222 to production" not in page  # not while locked
    response = client_for(alice).post(
        reverse("environment_unlock", args=[slug, production.pk]), follow=True
    )
    text = response.content.decode()
    assert "Unlocked production. Commit 2222222 was held meanwhile: deploy it below." in text
    assert "Deploy 2222222 to production" in text
    overview = client_for(alice).get(reverse("project", args=[slug])).content.decode()
    link = f"/projects/{slug}/deploy/?environment={production.pk}&amp;ref={'2' * 40}"
    assert f'href="{link}">Deploy 2222222 to production…' in overview
    form = client_for(alice).get(link.replace("&amp;", "&")).content.decode()
    assert f'value="{"2" * 40}"' in form
    client_for(alice).post(
        reverse("deploy_new", args=[slug]),
        {"environment": production.pk, "ref": "2" * 40, "confirmed": "2" * 40},
    )
    deploy = Deploy.objects.get()
    assert (deploy.sha, deploy.state) == ("2" * 40, State.QUEUED)
    assert gates.held_commit(production) is None  # deployed since: no longer offered


def test_a_freeze_window_holds_a_webhook_deploy(deliver, environments):
    production = environments[1]
    now = timezone.now()
    FreezeWindow.objects.create(
        project=production.project,
        environment=production,
        title="Year end",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
        time_zone="UTC",
    )
    response = deliver(payloads.github_workflow_run(branch="main"))
    assert response.json()["outcome"] == "held"
    assert "freeze window “Year end” until" in response.json()["reason"]
    assert not Deploy.objects.exists()


# The JSON API ----------------------------------------------------------------------------------


def api_deploy(client, user, **body):
    from deploys.trigger_models import ApiToken

    token = ApiToken.issue(user, "tests")[1]
    return client.post(
        "/api/v1/projects/foo-bar/deploys/",
        data={"environment": "production", "branch": "main", **body},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )


def test_the_api_answers_409_for_a_held_deploy_and_takes_an_admins_override(
    client, environments, alice, bob, queue
):
    from projects.models import Membership, Role

    Membership.objects.create(project=environments[1].project, user=bob, role=Role.DEPLOYER)
    gates.lock(environments[1], alice, "incident")
    held = api_deploy(client, alice)
    assert held.status_code == 409
    assert held.json()["error"] == "Not deployed: production is locked by alice: incident."
    blank = api_deploy(client, alice, override=" ")
    assert (blank.status_code, blank.json()["error"]) == (403, gates.NEEDS_REASON)
    assert api_deploy(client, bob, override="please").status_code == 403
    assert api_deploy(client, alice, override=["x"]).status_code == 400
    assert not Deploy.objects.exists()
    started = api_deploy(client, alice, override="customer outage")
    assert started.status_code == 202
    assert Deploy.objects.get().override_reason == "customer outage"
