"""The project page and the deploy history keep their rendered content until the project changes
(projects/pagecache.py), and their layout for the same person and projects (projects/layout.py):
a change shows on the very next view, whoever made it and however."""

import re

import pytest
import redis
from django.contrib import messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.cache import caches
from django.db import connection
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from deploys.models import Deploy, State
from deploys.services import request_deploy
from projects import layout, pagecache
from projects.models import Role
from tests.deploys.factories import give_key, make_deploy, make_environment

pytestmark = pytest.mark.django_db

PAGES = ["project", "deploy_history"]


def page(client, project, name="project", **query):
    response = client.get(reverse(name, args=[project.slug]), query)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("name", PAGES)
def test_a_kept_page_is_served_with_only_the_sign_in_queries(
    client_for, alice, project, django_assert_num_queries, name
):
    make_deploy(project)
    client = client_for(alice)
    page(client, project, name)
    with django_assert_num_queries(2):  # the user, and their memberships with the projects
        assert "#1" in page(client, project, name)


@pytest.mark.parametrize("name", PAGES)
def test_a_new_deploy_shows_on_the_next_view(client_for, alice, project, name):
    environment = make_environment(project)
    make_deploy(project, environment)
    client = client_for(alice)
    assert "#2" not in page(client, project, name)
    make_deploy(project, environment, state=State.FAILED)
    assert "#2" in page(client, project, name)


@pytest.mark.parametrize("name", PAGES)
def test_a_state_written_by_a_transition_shows_on_the_next_view(client_for, alice, project, name):
    deploy = make_deploy(project, state=State.RUNNING, worker_name="host:1")
    client = client_for(alice)
    assert "state-running" in page(client, project, name)
    assert deploy.finish(State.FAILED, "Heroku said no", "host:1")
    shown = page(client, project, name)
    assert "state-failed" in shown and "state-running" not in shown


def test_writing_only_the_line_count_keeps_the_page(
    client_for, alice, project, django_assert_num_queries
):
    deploy = make_deploy(project)
    client = client_for(alice)
    page(client, project)
    Deploy.objects.filter(pk=deploy.pk).update(line_count=500)  # the log writer's every flush
    with django_assert_num_queries(2):
        page(client, project)


def test_an_environment_renamed_shows_on_the_next_view(client_for, alice, project):
    environment = make_environment(project, name="staging")
    client = client_for(alice)
    assert "staging" in page(client, project)
    environment.name = "qa"
    environment.save()
    assert ">qa<" in page(client, project)


def test_a_page_with_a_deploy_under_way_is_kept_only_a_moment(
    client_for, alice, project, monkeypatch
):
    make_deploy(project, state=State.RUNNING)  # its duration grows with every view
    client = client_for(alice)
    page(client, project)
    assert count_queries(client, project) == 2  # kept: the user and the memberships
    caches["pages"].clear()
    monkeypatch.setattr(pagecache, "UNDER_WAY_TTL", 0.0)
    page(client, project)
    assert count_queries(client, project) > 2  # kept no time: rendered again
    caches["pages"].clear()
    monkeypatch.setattr(pagecache, "UNDER_WAY_TTL", 2.0)
    monkeypatch.setattr(pagecache, "TTL", 0.0)  # not the time to live of a deploy under way
    page(client, project)
    assert count_queries(client, project) == 2


def test_each_role_gets_the_content_kept_for_its_role(client_for, alice, bob_as, project):
    make_deploy(project)
    assert '<span class="badge role">Admin</span>' in page(client_for(alice), project)
    viewer_page = page(client_for(bob_as(Role.VIEWER)), project)
    assert '<span class="badge role">Viewer</span>' in viewer_page


def test_a_kept_page_holds_no_csrf_token_of_another_visitor(client_for, alice, bob_as, project):
    make_deploy(project)
    alice_page = page(client_for(alice), project)
    bob_page = page(client_for(bob_as(Role.ADMIN)), project)
    token = "csrfmiddlewaretoken"
    # One token each, in the top bar's sign-out form, never inside the kept content.
    assert alice_page.count(token) == bob_page.count(token) == 1
    assert kept("part") and all(token.encode() not in part for part in kept("part"))


def test_pages_are_rendered_afresh_when_redis_is_unreachable(
    client_for, alice, project, monkeypatch
):
    make_deploy(project)
    client = client_for(alice)
    page(client, project)
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(pagecache, "_connection", lambda: dead)
    make_deploy(project, state=State.FAILED)  # its touch cannot reach Redis either
    before = kept("part")
    assert "#2" in page(client, project)
    assert kept("part") == before  # no part kept while Redis is unreachable


def test_a_deploy_requested_by_the_service_shows_at_once(client_for, alice, project):
    give_key(project)
    environment = make_environment(project)
    client = client_for(alice)
    page(client, project)
    deploy = request_deploy(environment, branch="main", user=alice)
    assert f"#{deploy.number}" in page(client, project)


def test_a_part_expires_after_its_time_to_live(client_for, alice, project, monkeypatch):
    make_deploy(project)
    client = client_for(alice)
    monkeypatch.setattr(pagecache, "TTL", 0.0)
    page(client, project)
    assert count_queries(client, project) > 2


def kept(kind=""):
    """What this process keeps of pages, as stored (pickled text): parts ("part"), layouts
    ("layout") or both."""
    return [value for key, value in caches["pages"]._cache.items() if f":{kind}" in key]


def count_queries(client, project):
    with CaptureQueriesContext(connection) as queries:
        page(client, project)
    return len(queries)


# The layout around the content (projects/layout.py) ------------------------------------------


def sign_out_token(html):
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


@pytest.mark.parametrize("name", PAGES)
def test_signing_out_works_from_a_page_whose_layout_was_kept(alice, project, name):
    for _ in range(2):  # each with its own session and CSRF cookie, the second layout kept
        client = Client(enforce_csrf_checks=True)
        client.force_login(alice, backend="projects.backends.ModelBackend")
        page(client, project, name)
        token = sign_out_token(page(client, project, name))
        assert token not in (layout.TOKEN, "")
        assert client.post(reverse("logout"), {"csrfmiddlewaretoken": token}).status_code == 302
        assert client.get(reverse("home")).status_code == 302  # signed out


def test_the_switcher_follows_a_renamed_project(client_for, alice, project):
    client = client_for(alice)
    assert "<summary>Foo Bar</summary>" in page(client, project)
    project.name = "Foo Baz"
    project.save()
    shown = page(client, project)
    assert "<summary>Foo Baz</summary>" in shown and "<title>Foo Baz · herokucd</title>" in shown


def test_each_person_gets_their_own_top_bar(client_for, alice, bob_as, project):
    assert "<summary>alice</summary>" in page(client_for(alice), project)
    shown = page(client_for(bob_as(Role.VIEWER)), project)
    assert "<summary>bob</summary>" in shown and "<summary>alice</summary>" not in shown


def test_a_message_shows_once_on_a_page_whose_layout_was_kept(client_for, alice, project):
    client = client_for(alice)
    page(client, project)
    storage = CookieStorage(RequestFactory().get("/"))
    storage.add(messages.SUCCESS, "Saved the deploy options of staging.")
    carrier = HttpResponse()
    storage.update(carrier)
    client.cookies["messages"] = carrier.cookies["messages"].value
    assert "Saved the deploy options of staging." in page(client, project)
    assert "Saved the deploy options of staging." not in page(client, project)
