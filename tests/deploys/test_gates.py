"""Locks, overrides and required approvals: what gates.check decides, what every deploy path
does with it, the bad input each refuses, who may do what, and the audit trail."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from deploys import approvals, gates, services
from deploys.models import Deploy, DeployApproval, State, Trigger
from projects.models import AuditEvent, EnvironmentLock, Membership, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob_deployer(project, bob):
    Membership.objects.create(project=project, user=bob, role=Role.DEPLOYER)
    return bob


@pytest.fixture
def dave_admin(project, make_user):
    dave = make_user("dave")
    Membership.objects.create(project=project, user=dave, role=Role.ADMIN)
    return dave


def actions(project):
    return list(AuditEvent.objects.filter(project=project).values_list("action", flat=True))


# Locks -----------------------------------------------------------------------------------------


def test_an_unlocked_environment_may_deploy_now(environment):
    decision = gates.check(environment)
    assert decision.may_start_now and decision.why_not == "" and decision.holds == ()


def test_a_lock_holds_manual_retry_and_promotion_deploys_with_its_reason(environment, alice):
    gates.lock(environment, alice, "release in progress")
    for trigger in (Trigger.MANUAL, Trigger.RETRY, Trigger.PROMOTION, Trigger.WEBHOOK):
        decision = gates.check(environment, trigger=trigger)
        assert decision.held
        assert decision.why_not == (
            "Not deployed: production is locked by alice: release in progress."
        )
    with pytest.raises(services.Held, match="locked by alice: release in progress"):
        services.request_deploy(environment, user=alice, branch="main")
    assert not Deploy.objects.exists()


def test_a_rollback_is_not_held_by_a_lock(environment, alice):
    gates.lock(environment, alice, "bad release")
    assert gates.check(environment, trigger=Trigger.ROLLBACK).may_start_now


def test_gates_check_writes_nothing(environment, alice, django_assert_max_num_queries):
    gates.lock(environment, alice, "release in progress")
    before = (AuditEvent.objects.count(), EnvironmentLock.objects.count(), Deploy.objects.count())
    gates.check(environment, user=alice, override="because")
    after = (AuditEvent.objects.count(), EnvironmentLock.objects.count(), Deploy.objects.count())
    assert before == after


def test_locking_twice_or_without_a_reason_is_refused(environment, alice):
    with pytest.raises(gates.LockError, match="Say why"):
        gates.lock(environment, alice, "   ")
    gates.lock(environment, alice, "first")
    with pytest.raises(gates.LockError, match="locked already"):
        gates.lock(environment, alice, "second")
    assert EnvironmentLock.objects.get().reason == "first"


def test_lock_and_unlock_are_audited(environment, alice):
    gates.lock(environment, alice, "release in progress")
    assert gates.unlock(environment, alice) is True
    assert gates.unlock(environment, alice) is False
    assert actions(environment.project) == ["environment.unlocked", "environment.locked"]


# Overrides -------------------------------------------------------------------------------------


def test_an_admin_overrides_a_lock_with_a_reason_and_it_is_audited(environment, alice, queue):
    gates.lock(environment, alice, "release in progress")
    deploy = services.request_deploy(
        environment, user=alice, branch="main", override="hotfix for the outage"
    )
    assert deploy.state == State.QUEUED
    assert deploy.override_reason == "hotfix for the outage"
    event = AuditEvent.objects.get(action="deploy.override")
    assert event.details["reason"] == "hotfix for the outage"
    assert "locked by alice" in event.details["held"]


def test_an_override_without_a_reason_is_refused_and_nothing_is_saved(environment, alice):
    gates.lock(environment, alice, "release in progress")
    with pytest.raises(services.DeployError, match="An override needs a reason"):
        services.request_deploy(environment, user=alice, branch="main", override="  ")
    assert not Deploy.objects.exists()
    assert "deploy.override" not in actions(environment.project)


def test_a_deployer_cannot_override(environment, alice, bob_deployer):
    gates.lock(environment, alice, "release in progress")
    with pytest.raises(services.DeployError, match="Only an admin"):
        services.request_deploy(environment, user=bob_deployer, branch="main", override="please")
    assert not Deploy.objects.exists()


def test_the_deploy_form_refuses_an_override_without_a_reason(environment, client_for, alice):
    gates.lock(environment, alice, "release in progress")
    url = reverse("deploy_new", args=[environment.project.slug])
    form = {"environment": environment.pk, "ref": "main"}
    page = client_for(alice).post(url, form)
    assert b"locked by alice: release in progress" in page.content
    assert b"To deploy anyway, tick the override" in page.content
    page = client_for(alice).post(url, {**form, "override": "on", "override_reason": ""})
    assert b"An override needs a reason" in page.content
    assert not Deploy.objects.exists()


def test_the_deploy_form_deploys_with_an_admin_override(environment, client_for, alice, queue):
    gates.lock(environment, alice, "release in progress")
    url = reverse("deploy_new", args=[environment.project.slug])
    form = {"environment": environment.pk, "ref": "main", "override": "on"}
    response = client_for(alice).post(url, {**form, "override_reason": "customer outage"})
    deploy = Deploy.objects.get()
    assert response["Location"] == deploy.get_absolute_url()
    page = client_for(alice).get(deploy.get_absolute_url())
    assert b"customer outage" in page.content


def test_the_deploy_form_tells_a_deployer_only_an_admin_overrides(
    environment, client_for, alice, bob_deployer
):
    gates.lock(environment, alice, "release in progress")
    url = reverse("deploy_new", args=[environment.project.slug])
    page = client_for(bob_deployer).post(
        url,
        {"environment": environment.pk, "ref": "main", "override": "on", "override_reason": "x"},
    )
    assert b"Only an admin of the project can override" in page.content
    assert not Deploy.objects.exists()


def test_a_retry_of_a_locked_environment_is_refused(environment, client_for, alice):
    done = Deploy.objects.create(
        project=environment.project,
        number=1,
        environment=environment,
        environment_name=environment.name,
        app_name=environment.app_name,
        sha="a" * 40,
        state=State.FAILED,
    )
    gates.lock(environment, alice, "release in progress")
    response = client_for(alice).post(
        reverse("deploy_retry", args=[environment.project.slug, 1]), follow=True
    )
    assert b"locked by alice: release in progress" in response.content
    assert Deploy.objects.get() == done


# Lock pages and permissions ---------------------------------------------------------------------


def test_a_deployer_locks_and_unlocks_from_the_protection_page(
    environment, client_for, bob_deployer
):
    slug = environment.project.slug
    client = client_for(bob_deployer)
    lock_url = reverse("environment_lock", args=[slug, environment.pk])
    page = client.post(lock_url, {"reason": ""}, follow=True)
    assert b"Not locked" in page.content and not EnvironmentLock.objects.exists()
    page = client.post(lock_url, {"reason": "db maintenance"}, follow=True)
    assert b"Locked production" in page.content
    overview = client.get(reverse("project", args=[slug]))
    assert b"db maintenance" in overview.content and b"Locked" in overview.content
    client.post(reverse("environment_unlock", args=[slug, environment.pk]))
    assert not EnvironmentLock.objects.exists()


def test_a_viewer_cannot_lock_or_unlock(environment, client_for, alice, charlie):
    Membership.objects.create(project=environment.project, user=charlie, role=Role.VIEWER)
    slug = environment.project.slug
    assert client_for(charlie).get(reverse("protection", args=[slug])).status_code == 200
    lock_url = reverse("environment_lock", args=[slug, environment.pk])
    assert client_for(charlie).post(lock_url, {"reason": "x"}).status_code == 403
    gates.lock(environment, alice, "mine")
    unlock = reverse("environment_unlock", args=[slug, environment.pk])
    assert client_for(charlie).post(unlock).status_code == 403
    assert EnvironmentLock.objects.exists()


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("protection", {}),
        ("environment_lock", {"environment_id": None}),
        ("environment_unlock", {"environment_id": None}),
        ("approval_rules", {"environment_id": None}),
        ("freeze_window_add", {}),
        ("deploy_approval", {"number": 1}),
    ],
)
def test_an_outsider_gets_404_on_every_gate_page(environment, client_for, charlie, name, kwargs):
    kwargs = {k: (environment.pk if v is None else v) for k, v in kwargs.items()}
    url = reverse(name, kwargs={"slug": environment.project.slug, **kwargs})
    assert client_for(charlie).post(url, {"reason": "x"}).status_code == 404


def test_a_deployer_cannot_change_approval_rules(environment, client_for, bob_deployer):
    url = reverse("approval_rules", args=[environment.project.slug, environment.pk])
    data = {
        f"env{environment.pk}-required_approvals": "1",
        f"env{environment.pk}-approver_role": "deployer",
        f"env{environment.pk}-approval_hours": "2",
    }
    assert client_for(bob_deployer).post(url, data).status_code == 403
    environment.refresh_from_db()
    assert environment.required_approvals == 0


# Approvals --------------------------------------------------------------------------------------


def protect(environment, count=2, role=Role.ADMIN, **extra):
    environment.required_approvals = count
    environment.approver_role = role
    for name, value in extra.items():
        setattr(environment, name, value)
    environment.save()
    return environment


def test_a_protected_environment_s_deploy_waits_for_approval(environment, alice, queue):
    protect(environment)
    deploy = services.request_deploy(environment, user=alice, branch="main")
    assert deploy.state == State.WAITING
    assert deploy.approval_deadline > timezone.now() + timedelta(hours=23)
    assert gates.check(environment).approvals == 2


def test_two_approvals_start_it_and_each_is_audited_with_its_comment(
    environment, alice, bob_deployer, dave_admin, queue
):
    protect(environment, role=Role.DEPLOYER)
    deploy = services.request_deploy(environment, user=alice, branch="main")
    approvals.decide(deploy, bob_deployer, True, "looks fine")
    deploy.refresh_from_db()
    assert deploy.state == State.WAITING
    approvals.decide(deploy, dave_admin, True, "")
    deploy.refresh_from_db()
    assert deploy.state == State.QUEUED and deploy.approval_deadline is None
    events = AuditEvent.objects.filter(action="deploy.approved").order_by("pk")
    assert [e.details["comment"] for e in events] == ["looks fine", ""]


def test_the_person_who_started_it_cannot_approve_it(environment, alice, queue):
    protect(environment, count=1)
    deploy = services.request_deploy(environment, user=alice, branch="main")
    with pytest.raises(approvals.ApprovalRefused, match="You started this deploy"):
        approvals.decide(deploy, alice, True, "mine")
    assert not DeployApproval.objects.exists()


def test_self_approval_when_the_environment_allows_it(environment, alice, queue):
    protect(environment, count=1, self_approval=True)
    deploy = services.request_deploy(environment, user=alice, branch="main")
    approvals.decide(deploy, alice, True, "")
    deploy.refresh_from_db()
    assert deploy.state == State.QUEUED


def test_someone_without_the_role_cannot_approve(environment, alice, bob_deployer, queue):
    protect(environment, count=1, role=Role.ADMIN)
    deploy = services.request_deploy(environment, user=alice, branch="main")
    with pytest.raises(approvals.ApprovalRefused, match="Only admins"):
        approvals.decide(deploy, bob_deployer, True, "")
    assert not DeployApproval.objects.exists()


def test_only_named_approvers_may_approve(environment, alice, bob_deployer, dave_admin, queue):
    protect(environment, count=1)
    environment.approvers.set([bob_deployer])
    deploy = services.request_deploy(environment, user=alice, branch="main")
    with pytest.raises(approvals.ApprovalRefused, match="named approvers"):
        approvals.decide(deploy, dave_admin, True, "")
    approvals.decide(deploy, bob_deployer, True, "ok")
    deploy.refresh_from_db()
    assert deploy.state == State.QUEUED


def test_approving_twice_is_refused(environment, alice, dave_admin, queue):
    protect(environment)
    deploy = services.request_deploy(environment, user=alice, branch="main")
    approvals.decide(deploy, dave_admin, True, "")
    with pytest.raises(approvals.ApprovalRefused, match="already"):
        approvals.decide(deploy, dave_admin, True, "")
    assert DeployApproval.objects.count() == 1


def test_a_rejection_needs_a_comment_and_cancels_the_deploy(environment, alice, dave_admin, queue):
    protect(environment)
    deploy = services.request_deploy(environment, user=alice, branch="main")
    with pytest.raises(approvals.ApprovalRefused, match="Say why you reject it"):
        approvals.decide(deploy, dave_admin, False, " ")
    approvals.decide(deploy, dave_admin, False, "wrong branch")
    deploy.refresh_from_db()
    assert deploy.state == State.CANCELED
    assert deploy.reason == "Rejected by dave: wrong branch"
    assert AuditEvent.objects.get(action="deploy.rejected").details["comment"] == "wrong branch"


def test_a_waiting_deploy_expires_at_its_deadline(environment, alice, dave_admin, queue):
    protect(environment, approval_hours=2)
    deploy = services.request_deploy(environment, user=alice, branch="main")
    assert approvals.expire(deploy.pk) == "not yet"
    Deploy.objects.filter(pk=deploy.pk).update(
        approval_deadline=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(approvals.ApprovalRefused, match="over"):
        approvals.decide(Deploy.objects.get(pk=deploy.pk), dave_admin, True, "")
    assert approvals.expire_waiting() == [deploy.pk]
    deploy.refresh_from_db()
    assert deploy.state == State.CANCELED
    assert deploy.reason == "Expired: not approved within 2 hours."
    assert "deploy.approval_expired" in actions(environment.project)


def test_the_expiry_job_is_scheduled_at_the_deadline(
    environment, alice, queue, django_capture_on_commit_callbacks
):
    registry = queue.scheduled_job_registry
    for job_id in registry.get_job_ids():  # a Redis server keeps earlier runs' jobs
        registry.remove(job_id)
    protect(environment)
    with django_capture_on_commit_callbacks(execute=True):
        deploy = services.request_deploy(environment, user=alice, branch="main")
    jobs = [queue.fetch_job(job_id) for job_id in registry.get_job_ids()]
    expiring = [
        job
        for job in jobs
        if job.func_name == "deploys.approvals.expire" and job.args == (deploy.pk,)
    ]
    assert len(expiring) == 1
    at = registry.get_scheduled_time(expiring[0])
    assert abs((at - deploy.approval_deadline).total_seconds()) < 1
    registry.remove(expiring[0])


def test_a_superseding_deploy_carries_no_approval_over(
    environment, alice, bob_deployer, dave_admin, queue
):
    protect(environment, role=Role.DEPLOYER)
    first = services.request_deploy(environment, user=alice, sha="a" * 40)
    approvals.decide(first, dave_admin, True, "ok")
    second = services.request_deploy(environment, user=alice, sha="b" * 40)
    first.refresh_from_db()
    assert first.state == State.CANCELED and first.reason == f"superseded by #{second.number}"
    assert second.state == State.WAITING and not second.approvals.exists()
    approvals.decide(second, bob_deployer, True, "")
    second.refresh_from_db()
    assert second.state == State.WAITING  # one of two: dave's approval stayed with #1


def test_the_last_approval_is_refused_while_the_environment_is_locked(
    environment, alice, dave_admin, queue
):
    protect(environment, count=1)
    deploy = services.request_deploy(environment, user=alice, branch="main")
    gates.lock(environment, alice, "incident")
    with pytest.raises(approvals.ApprovalRefused, match="locked by alice: incident"):
        approvals.decide(deploy, dave_admin, True, "")
    deploy.refresh_from_db()
    assert deploy.state == State.WAITING and not deploy.approvals.exists()


def test_approval_rules_that_cannot_be_met_are_refused(environment, client_for, alice):
    url = reverse("approval_rules", args=[environment.project.slug, environment.pk])
    prefix = f"env{environment.pk}-"
    data = {
        prefix + "required_approvals": "3",
        prefix + "approver_role": "admin",
        prefix + "approval_hours": "24",
    }
    page = client_for(alice).post(url, data, follow=True)
    assert b"3 approvals are required but only 1 person may approve" in page.content
    environment.refresh_from_db()
    assert environment.required_approvals == 0


def test_the_deploy_page_offers_approval_to_an_approver_only(
    environment, client_for, alice, dave_admin, queue
):
    protect(environment, count=1)
    deploy = services.request_deploy(environment, user=alice, branch="main")
    mine = client_for(alice).get(deploy.get_absolute_url())
    assert b"Waiting for approval: 0 of 1" in mine.content
    assert b"You started this deploy: someone else must approve it." in mine.content
    theirs = client_for(dave_admin).get(deploy.get_absolute_url())
    assert b"Approve deploy #1" in theirs.content
    url = reverse("deploy_approval", args=[environment.project.slug, deploy.number])
    client_for(dave_admin).post(url, {"decision": "approve", "comment": "go"})
    deploy.refresh_from_db()
    assert deploy.state == State.QUEUED


def test_approvers_are_notified_through_the_notification_targets(
    environment, alice, queue, django_capture_on_commit_callbacks
):
    from deploys import notifications
    from deploys.trigger_models import NotificationTarget

    NotificationTarget.objects.create(
        environment=environment, kind="email", address="ops@example.com"
    )
    protect(environment, count=1)
    with django_capture_on_commit_callbacks(execute=True):
        deploy = services.request_deploy(environment, user=alice, branch="main")
    queued = [job for job in queue.get_jobs() if job.func_name == "deploys.notifications.deliver"]
    assert [job.args[1:] for job in queued] == [(deploy.pk, "approval")]
    message = notifications.message(deploy, "approval")
    assert message["headline"].endswith("to production waits for approval")
    assert "needs 1 approval to start" in message["reason"]


def test_a_waiting_deploy_can_be_canceled_and_says_it_never_starts(
    environment, client_for, alice, queue
):
    protect(environment, count=1)
    deploy = services.request_deploy(environment, user=alice, branch="main")
    url = reverse("deploy_cancel", args=[environment.project.slug, deploy.number])
    asked = client_for(alice).post(url)
    assert b"It stops waiting for approval and never starts" in asked.content
    client_for(alice).post(url, {"confirmed": "yes"})
    deploy.refresh_from_db()
    assert deploy.state == State.CANCELED and deploy.reason == "Canceled by alice."


def test_a_webhook_deploy_of_a_protected_environment_says_it_waits(environment, alice):
    from deploys.webhooks import Build, decide

    protect(environment, count=2)
    build = Build("generic", "build", branches=["main"], sha="a" * 40, green=True)
    outcome, reason, *_ = decide(environment.project, build)
    assert (outcome, reason) == ("deployed", "Deploy of main to production waits for 2 approvals.")


def test_the_maintenance_command_expires_waiting_deploys_too(environment, alice, queue):
    from io import StringIO

    from django.core.management import call_command

    protect(environment, count=1)
    deploy = services.request_deploy(environment, user=alice, branch="main")
    past = timezone.now() - timedelta(minutes=1)
    Deploy.objects.filter(pk=deploy.pk).update(approval_deadline=past)
    out = StringIO()
    call_command("fail_stale_deploys", stdout=out)
    assert "1 deploy(s) waiting for approval expired." in out.getvalue()
    assert Deploy.objects.get(pk=deploy.pk).state == State.CANCELED
