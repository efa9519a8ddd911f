"""Deploy history, its chart and success rate, and the project and home page content."""

import pytest
from django.contrib.sessions.backends.base import SessionBase
from django.db import connection
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from deploys.models import Deploy, State
from deploys.views import project_cards, project_overview_context
from projects.models import Role
from tests.deploys.factories import give_key, ledger, make_deploy, make_environment

pytestmark = pytest.mark.django_db


def history(project, **query):
    path = reverse("deploy_history", args=[project.slug])
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def bulk_deploys(project, environment, count, state=State.SUCCEEDED):
    """`count` deploys in one INSERT, numbered after the existing ones."""
    first = make_deploy(project, environment, state=state)
    Deploy.objects.bulk_create(
        Deploy(**{**_fields(first), "number": first.number + n}) for n in range(1, count)
    )


def _fields(deploy):
    skip = {"id", "number", "created_at"}
    return {
        f.attname: getattr(deploy, f.attname)
        for f in Deploy._meta.concrete_fields
        if f.attname not in skip
    }


def test_history_requires_sign_in(client, project):
    response = client.get(history(project))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_an_outsider_gets_404_on_history(client_for, charlie, project):
    assert client_for(charlie).get(history(project)).status_code == 404


def test_a_viewer_sees_the_history(client_for, bob_as, project):
    make_deploy(project)
    page = client_for(bob_as(Role.VIEWER)).get(history(project)).content.decode()
    assert "#1" in page and "Succeeded" in page
    # The row and its chart bar link to the deploy's page.
    assert page.count(f'href="{reverse("deploy", args=[project.slug, 1])}"') == 2


def test_an_empty_history_says_what_to_do(client_for, alice, project):
    page = client_for(alice).get(history(project)).content.decode()
    assert "No deploys yet" in page and "connect your CI" in page


def test_history_filters_by_environment_state_and_branch(client_for, alice, project):
    staging = make_environment(project, "staging")
    production = make_environment(project, "production")
    make_deploy(project, staging, state=State.FAILED)
    make_deploy(project, production, state=State.SUCCEEDED)
    make_deploy(project, production, state=State.FAILED, branch="hotfix")
    client = client_for(alice)

    def numbers(**query):
        return [d.number for d in client.get(history(project, **query)).context["page"]]

    assert numbers() == [3, 2, 1]
    assert numbers(environment="production") == [3, 2]
    assert numbers(state="failed") == [3, 1]
    assert numbers(environment="production", state="failed", branch="hotfix") == [3]
    assert numbers(branch="nope") == []


def test_an_unknown_filter_value_is_explained_and_ignored(client_for, alice, project):
    make_deploy(project)
    response = client_for(alice).get(history(project, state="exploded"))
    assert "Select a valid choice" in response.content.decode()
    assert len(response.context["page"]) == 1


def test_history_is_paginated_25_per_page_newest_first(client_for, alice, project):
    bulk_deploys(project, make_environment(project), 30)
    client = client_for(alice)
    first = client.get(history(project)).context["page"]
    second = client.get(history(project, page=2, state="succeeded")).context["page"]
    assert [d.number for d in first][:2] == [30, 29] and len(first) == 25
    assert [d.number for d in second] == [5, 4, 3, 2, 1]
    assert first.has_next and not second.has_next
    assert (
        "state=succeeded&amp;page=1"
        in client.get(history(project, page=2, state="succeeded")).content.decode()
    )


def test_chart_has_one_bar_per_deploy_up_to_50_and_the_success_rate(client_for, alice, project):
    env = make_environment(project)
    bulk_deploys(project, env, 45, State.SUCCEEDED)
    bulk_deploys(project, env, 15, State.FAILED)
    response = client_for(alice).get(history(project))
    chart = response.context["chart"]
    assert len(chart["bars"]) == 50
    assert chart["bars"][-1]["number"] == 60  # newest on the right
    assert chart["rate"] == 70  # 35 of the last 50 succeeded
    page = response.content.decode()
    assert page.count('<rect class="bar bar-failed"') == 15
    assert '<strong id="success-rate">70%</strong>' in page


def test_bar_height_follows_duration(project):
    from deploys.views import deploy_chart

    env = make_environment(project)
    make_deploy(project, env, seconds=30)
    make_deploy(project, env, seconds=120)
    bars = deploy_chart(project.deploys.order_by("-number"))["bars"]
    assert bars[1]["height"] > 3 * bars[0]["height"] - 4
    assert bars[1]["y"] + bars[1]["height"] == 100


@pytest.mark.parametrize("count", [10, 1000])
def test_history_uses_a_fixed_number_of_queries(
    client_for, alice, project, django_assert_num_queries, count
):
    bulk_deploys(project, make_environment(project), count)
    client = client_for(alice)
    client.get(history(project))  # warm the session
    # user, memberships (this one and the project switcher's), environments, the last 50 (page 1
    # and the chart), never a count; the session comes from the cache
    with django_assert_num_queries(4):
        assert client.get(history(project, state="succeeded")).status_code == 200
    with django_assert_num_queries(5):  # and an older page: its own rows
        assert client.get(history(project, page=3)).status_code == 200


# Project and home page content -----------------------------------------------------------


def render_page(template, user, **context):
    request = RequestFactory().get("/")
    request.user = user
    request.session = SessionBase()
    request._messages = []
    return render_to_string(template, context, request=request)


def overview(project, user):
    membership = project.memberships.get(user=user)
    ctx = project_overview_context(project)
    return render_page(
        "deploys/_overview.html", user, project=project, membership=membership, **ctx
    )


def test_project_page_shows_each_environment_last_deploy_and_last_good_sha(project, alice):
    staging = make_environment(project, "staging", app_name="foo-staging")
    make_environment(project, "production", app_name="foo-production")
    good = make_deploy(project, staging, state=State.SUCCEEDED)
    make_deploy(project, staging, state=State.FAILED)
    page = overview(project, alice)
    assert "foo-staging" in page and "foo-production" in page
    assert 'state-failed">Failed' in page
    assert good.short_sha in page
    assert "Never deployed" in page  # production
    assert "<time datetime=" in page  # relative time, exact time on hover


def test_project_page_with_no_deploys_says_what_to_do(project, alice):
    page = overview(project, alice)
    assert "No deploys yet." in page


def test_project_page_lists_missing_setup_steps_when_available(project, alice):
    ctx = project_overview_context(project)
    page = overview(project, alice)
    for item in ctx["setup_missing"]:
        assert item["label"] in page


def count_overview_queries(project, user):
    with CaptureQueriesContext(connection) as queries:
        overview(project, user)
    return len(queries)


def test_project_page_uses_the_same_queries_for_10_and_1000_deploys(project, alice):
    give_key(project)
    env = make_environment(project)
    ledger(env.app_name)
    bulk_deploys(project, env, 10)
    with_10 = count_overview_queries(project, alice)
    bulk_deploys(project, env, 990)
    assert count_overview_queries(project, alice) == with_10
    assert "#1000" in overview(project, alice)


def test_home_shows_each_environment_state_at_a_glance(client_for, project, alice, charlie):
    staging = make_environment(project, "staging", app_name="foo-staging")
    make_deploy(project, staging, state=State.RUNNING, finished_at=None)
    page = client_for(alice).get("/").content.decode()
    assert "Foo Bar" in page and "foo-staging" in page
    assert 'state-running">Running' in page
    assert "Foo Bar" not in client_for(charlie).get("/").content.decode()


def test_home_cards_take_one_query_whatever_the_number_of_projects(
    alice, django_assert_num_queries
):
    from projects.models import Membership, Project

    projects = []
    for n in range(5):
        p = Project.objects.create(name=f"P{n}", slug=f"p{n}", repository_url="/tmp/x")
        Membership.objects.create(project=p, user=alice, role=Role.ADMIN)
        make_deploy(p, make_environment(p, app_name=f"app-{n}"))
        projects.append(p)
    with django_assert_num_queries(1):
        cards = project_cards(projects)
    assert all(f"app-{n}" in cards[p.pk].html for n, p in enumerate(projects))


def test_a_kept_home_page_costs_only_the_sign_in_queries(
    client_for, alice, project, django_assert_num_queries
):
    environment = make_environment(project, "staging", app_name="foo-staging")
    running = make_deploy(project, environment, state=State.RUNNING, finished_at=None)
    client = client_for(alice)
    client.get("/")
    with django_assert_num_queries(2):  # the user, and their memberships with the projects
        assert 'state-running">Running' in client.get("/").content.decode()
    assert running.finish(State.FAILED, "", running.worker_name)
    assert 'state-failed">Failed' in client.get("/").content.decode()


def test_project_page_shows_the_last_builds_that_deployed_nothing(project, alice):
    from deploys.trigger_models import Outcome, WebhookEndpoint, WebhookEvent

    endpoint = WebhookEndpoint.objects.create(project=project, secret="not-shown")
    WebhookEvent.objects.create(
        endpoint=endpoint,
        provider="github",
        branch="feature/x",
        sha="b" * 40,
        outcome=Outcome.NO_DEPLOY,
        reason="No environment deploys branch feature/x.",
    )
    page = overview(project, alice)
    assert "No environment deploys branch feature/x." in page
    assert "not-shown" not in page


# The git rate-limit budget on the project page ---------------------------------------------


def test_project_page_shows_each_environment_git_budget_from_the_ledger(project, alice):
    give_key(project)
    make_environment(project, "staging", app_name="foo-staging")
    make_environment(project, "production", app_name="foo-production")
    ledger("foo-staging", minutes_ago=10)
    ledger("foo-staging", minutes_ago=5)
    ledger("foo-staging", minutes_ago=90)  # out of the hour: no longer counted
    ledger("foo-production", key_hash="another-key")  # another key's budget
    page = overview(project, alice)
    assert "71 of 75 git requests left this hour" in page  # staging
    assert "75 of 75 git requests left this hour" in page  # production
    assert "not-shown-api-key" not in page


def test_the_budget_says_until_when_heroku_refuses_pushes(project, alice):
    give_key(project)
    make_environment(project, "staging", app_name="foo-staging")
    ledger("foo-staging", requests=0, retry_in=5)
    assert "Heroku refused pushes (429): waiting until" in overview(project, alice)


def test_budgets_are_the_figures_of_the_ratelimit_ledger_in_one_query(
    project, django_assert_num_queries
):
    from deploys import ratelimit
    from deploys.views import git_budgets

    staging = make_environment(project, "staging", app_name="foo-staging")
    production = make_environment(project, "production", app_name="foo-production")
    for minutes in (50, 20, 3):
        ledger("foo-staging", minutes_ago=minutes)
    ledger("foo-production", requests=0, retry_in=4)
    with django_assert_num_queries(1):
        found = git_budgets("key-of-foo", [staging, production])
    for env in (staging, production):
        expected = ratelimit.budget("key-of-foo", env.app_name)
        got = found[env.app_name]
        assert (got.used, got.remaining, got.retry_at) == (
            expected.used,
            expected.remaining,
            expected.retry_at,
        )
        assert got.next_free == expected.next_free


def test_without_a_key_the_budget_is_not_shown(project, alice):
    make_environment(project, "staging", app_name="foo-staging")
    assert "git requests left" not in overview(project, alice)


def test_a_page_past_the_oldest_deploy_says_so_and_links_back(client_for, alice, project):
    make_deploy(project)
    page = client_for(alice).get(history(project, page=9)).content.decode()
    assert "No deploys on this page" in page and "Back to the newest deploys" in page
