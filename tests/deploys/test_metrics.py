"""Delivery metrics per week: what each key counts, a constant number of queries whatever the
history (100,000 deploys), and the Metrics page with its definitions."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from bench.metrics import generate_history
from deploys import metrics
from deploys.models import Deploy, State, Trigger
from projects.models import Role
from tests.deploys.factories import make_environment

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 18, 12, 0, tzinfo=UTC)  # a Wednesday
THIS_WEEK = datetime(2026, 3, 16, tzinfo=UTC)
LAST_WEEK = THIS_WEEK - timedelta(weeks=1)


def add(project, environment, finished, state=State.SUCCEEDED, **extra):
    number = Deploy.objects.filter(project=project).count() + 1
    deploy = Deploy.objects.create(
        project=project,
        number=number,
        environment=environment,
        environment_name=environment.name,
        app_name=environment.app_name,
        branch=extra.pop("branch", "main"),
        sha=f"{number:040x}",
        state=state,
        started_at=finished - timedelta(minutes=2),
        finished_at=finished,
        **extra,
    )
    Deploy.objects.filter(pk=deploy.pk).update(created_at=finished - timedelta(minutes=3))
    return deploy


@pytest.fixture
def production(project):
    return make_environment(project, "production")


def week(weeks, start):
    return next(w for w in weeks if w.start == start)


def test_deployment_frequency_counts_succeeded_deploys_per_week(project, production):
    for day in range(3):
        add(project, production, LAST_WEEK + timedelta(days=day, hours=9))
    add(project, production, LAST_WEEK + timedelta(days=4), state=State.FAILED)
    add(project, production, THIS_WEEK + timedelta(hours=1))
    weeks = metrics.weeks_of(project, weeks=4, now=NOW)
    assert [w.deploys for w in weeks] == [0, 0, 3, 1]
    assert [w.start for w in weeks][-1] == THIS_WEEK


def test_lead_time_runs_from_commit_to_live(project, production):
    finished = LAST_WEEK + timedelta(days=1)
    add(project, production, finished, commit_at=finished - timedelta(hours=2))
    add(project, production, finished, commit_at=finished - timedelta(hours=4))
    add(project, production, finished)  # commit time unknown: left out, still deployed
    last = week(metrics.weeks_of(project, weeks=2, now=NOW), LAST_WEEK)
    assert (last.deploys, last.lead_time) == (3, timedelta(hours=3))


def test_change_failure_rate_counts_failures_rollbacks_and_hotfixes_within_the_window(
    project, production
):
    day = LAST_WEEK + timedelta(days=1)
    add(project, production, day)  # followed by a rollback an hour later: failed change
    add(project, production, day + timedelta(hours=1), trigger=Trigger.ROLLBACK)
    add(project, production, day + timedelta(hours=2))  # followed by a hotfix: failed change
    add(project, production, day + timedelta(hours=3), branch="hotfix-price")
    add(project, production, day + timedelta(hours=30))  # a good change: its next is 2 days on
    add(project, production, day + timedelta(days=3), state=State.FAILED)  # failed itself
    last = week(metrics.weeks_of(project, weeks=2, now=NOW), LAST_WEEK)
    # 5 changes (the rollback is not one): 1st, 3rd and the failed one needed fixing.
    assert (last.changes, last.failed_changes, last.failure_rate) == (5, 3, 60)


def test_a_later_failure_outside_the_window_does_not_count(project, production):
    day = LAST_WEEK + timedelta(days=1)
    add(project, production, day)
    add(project, production, day + metrics.FAILURE_WINDOW + timedelta(hours=1), state="failed")
    last = week(metrics.weeks_of(project, weeks=2, now=NOW), LAST_WEEK)
    assert (last.changes, last.failed_changes) == (2, 1)  # only the failed one itself


def test_time_to_restore_runs_from_the_failure_to_the_next_success(project, production):
    other = make_environment(project, "staging")
    day = LAST_WEEK + timedelta(days=1)
    add(project, production, day - timedelta(hours=1))
    add(project, production, day, state=State.FAILED)  # the outage starts
    add(project, production, day + timedelta(minutes=30), state=State.FAILED)  # still down
    add(project, other, day + timedelta(minutes=40))  # another environment: not a restore
    add(project, production, day + timedelta(hours=2))  # restored
    last = week(metrics.weeks_of(project, weeks=2, now=NOW), LAST_WEEK)
    assert (last.restores, last.restore_time) == (1, timedelta(hours=2))


def test_one_environment_at_a_time(project, production):
    staging = make_environment(project, "staging")
    add(project, production, LAST_WEEK + timedelta(days=1))
    add(project, staging, LAST_WEEK + timedelta(days=1))
    add(project, staging, LAST_WEEK + timedelta(days=2))
    assert week(metrics.weeks_of(project, staging, 2, NOW), LAST_WEEK).deploys == 2
    assert week(metrics.weeks_of(project, None, 2, NOW), LAST_WEEK).deploys == 3


@pytest.mark.slow
def test_the_queries_stay_the_same_for_100000_deploys(
    project, production, client_for, alice, django_assert_num_queries
):
    staging = make_environment(project, "staging")
    generate_history(project, [production, staging], 1000, NOW)
    with django_assert_num_queries(3):
        small = metrics.weeks_of(project, weeks=52, now=NOW)
    Deploy.objects.all().delete()
    generate_history(project, [production, staging], 100_000, NOW)
    with django_assert_num_queries(3):
        weeks = metrics.weeks_of(project, weeks=52, now=NOW)
    assert sum(w.deploys for w in weeks) > 80_000 > sum(w.deploys for w in small)
    assert all(w.lead_time is not None for w in weeks[1:])
    assert 10 < metrics.totals(weeks)["failure_rate"] < 40
    assert metrics.totals(weeks)["restores"] > 100
    client = client_for(alice)
    client.get(f"/projects/{project.slug}/metrics/")  # the session, read once
    with django_assert_num_queries(6):  # the visitor, memberships, environments, and the 3
        page = client.get(f"/projects/{project.slug}/metrics/?weeks=52")
    assert page.status_code == 200


def test_the_page_shows_charts_numbers_and_definitions(client_for, alice, project, production):
    finished = datetime.now(UTC) - timedelta(hours=1)
    add(project, production, finished, commit_at=finished - timedelta(minutes=90))
    page = client_for(alice).get(f"/projects/{project.slug}/metrics/").content.decode()
    assert page.count("<svg") == 4  # drawn by the server, nothing loaded from elsewhere
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', page)
    for title in (
        "Deployment frequency",
        "Lead time for changes",
        "Change failure rate",
        "Time to restore",
    ):
        assert title in page
    assert "DORA" in page and "dora.dev" in page
    assert "1m 30s" not in page and "1h 30m" in page  # the lead time, beside the chart


@pytest.mark.parametrize(
    "query", ["weeks=5", "weeks=abc", "weeks=99999999999999999999", "environment=999", "x=<b>"]
)
def test_bad_choices_fall_back_to_the_defaults(client_for, alice, project, production, query):
    response = client_for(alice).get(f"/projects/{project.slug}/metrics/?{query}")
    assert response.status_code == 200
    assert "last 12 weeks" in response.content.decode()


def test_an_environment_of_another_project_is_not_shown(
    client_for, alice, project, production, make_user
):
    from projects.models import Project

    other = Project.objects.create(name="Other", slug="other", repository_url="/x")
    theirs = make_environment(other, "secret-env")
    page = client_for(alice).get(f"/projects/{project.slug}/metrics/?environment={theirs.pk}")
    assert "secret-env" not in page.content.decode()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.DEPLOYER])
def test_members_of_any_role_see_the_metrics(client_for, bob_as, project, role):
    assert client_for(bob_as(role)).get(f"/projects/{project.slug}/metrics/").status_code == 200


def test_an_outsider_gets_404(client_for, charlie, project):
    assert client_for(charlie).get(f"/projects/{project.slug}/metrics/").status_code == 404


def test_a_deploy_that_succeeds_gets_its_commit_time_from_the_mirror(
    project, production, git_repo, django_capture_on_commit_callbacks
):
    import shutil
    import subprocess

    from deploys import app_lock, mirror
    from tests.deploys.factories import make_deploy

    sha = git_repo.head()
    committed = int(git_repo.git("show", "-s", "--format=%ct", sha))
    path = mirror.mirror_path(project)
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "--mirror", "-q", str(git_repo.path), str(path)], check=True)
    try:
        deploy = make_deploy(project, production, state=State.QUEUED, sha=sha)
        deploy.claim("host:1", app_lock.same_app_waiting_before())
        with django_capture_on_commit_callbacks(execute=True):
            deploy.finish(State.SUCCEEDED, "", "host:1")
    finally:
        shutil.rmtree(path, ignore_errors=True)
    deploy.refresh_from_db()
    assert deploy.commit_at == datetime.fromtimestamp(committed, tz=UTC)
