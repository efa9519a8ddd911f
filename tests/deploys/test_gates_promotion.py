"""Promotions pass the gates of their target environment, against the simulator's pipeline."""

import pytest

from deploys import gates, services
from deploys.models import Deploy, State, Trigger
from deploys.promotion import request_promotion
from tests.deploys.test_pipeline import configure, deploy_now, log_text
from tests.deploys.test_promotion import (  # noqa: F401 (fixtures)
    deployed,
    health,
    pipeline_sim,
    production,
    sim,
    staging,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_locked_target_refuses_a_promotion(deployed, production, sim, alice):  # noqa: F811
    gates.lock(production, alice, "payment provider migration")
    with pytest.raises(services.Held, match="production is locked by alice: payment provider"):
        request_promotion(deployed, alice)
    assert not Deploy.objects.filter(trigger=Trigger.PROMOTION).exists()


def test_a_target_requiring_approval_gets_a_waiting_promotion(deployed, production, sim, alice):  # noqa: F811
    production.required_approvals = 1
    production.save()
    promotion = request_promotion(deployed, alice)
    assert promotion.state == State.WAITING
    assert promotion.promoted_from == deployed


def test_auto_promote_to_a_locked_environment_says_why_in_the_log(
    staging,  # noqa: F811
    production,  # noqa: F811
    health,  # noqa: F811
    sim,  # noqa: F811
    alice,
):
    gates.lock(production, alice, "release train paused")
    configure(staging, auto_promote=True, health_check_url=health.url)
    deploy = deploy_now(staging, user=alice)
    assert deploy.state == State.SUCCEEDED, deploy.reason
    assert (
        "Auto-promote: not promoted. Not deployed: production is locked by alice: release "
        "train paused." in log_text(deploy)
    )
    assert not Deploy.objects.filter(trigger=Trigger.PROMOTION).exists()


def test_who_started_a_deploy_cannot_approve_its_auto_promotion(
    deployed,  # noqa: F811
    production,  # noqa: F811
    sim,  # noqa: F811
    alice,
    make_user,
):
    """Alice's staging deploy auto-promotes (herokucd starts the promotion, nobody's name on
    it): she chose that code, so she may not approve it into production herself."""
    from deploys import approvals
    from projects.models import Membership, Role

    dave = make_user("dave")
    Membership.objects.create(project=production.project, user=dave, role=Role.ADMIN)
    production.required_approvals = 1
    production.save()
    promotion = request_promotion(deployed, None, finishing=True)  # as auto_promote asks
    assert promotion.state == State.WAITING and promotion.triggered_by is None
    assert "You started the deploy this promotes" in approvals.problem(promotion, alice)
    with pytest.raises(approvals.ApprovalRefused, match="You started the deploy this promotes"):
        approvals.decide(promotion, alice, True, "")
    promotion.refresh_from_db()
    assert promotion.state == State.WAITING
    approvals.decide(promotion, dave, True, "")
    promotion.refresh_from_db()
    assert promotion.state == State.QUEUED
