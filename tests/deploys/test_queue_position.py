"""Where a queued deploy waits, and behind what: its page (live), history rows, the project and
home cards, and the API. The app lock is per Heroku app across projects, so another project's
deploy of the same app is named only to that project's members."""

import html
import re
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from deploys.models import Deploy, State, StepState
from deploys.templatetags.queue_tags import ordinal
from deploys.trigger_models import ApiToken
from projects.models import Membership, Project, Role
from tests.deploys.factories import give_key, ledger, make_deploy, make_environment, make_steps
from tests.deploys.test_history import bulk_deploys

pytestmark = pytest.mark.django_db

APP = "foo-staging"
S, R, P = StepState.SUCCEEDED, StepState.RUNNING, StepState.PENDING


@pytest.fixture
def staging(project):
    return make_environment(project, "staging", app_name=APP)


@pytest.fixture
def running(project, staging):
    """#1, at its third step of four for two minutes."""
    deploy = make_deploy(project, staging, state=State.RUNNING, seconds=125)
    make_steps(deploy, [S, S, R, P])
    return deploy


def queued(project, environment, **extra):
    return make_deploy(project, environment, state=State.QUEUED, sha="", **extra)


def page_of(client, deploy):
    return client.get(deploy.get_absolute_url()).content.decode()


def note_of(page):
    """The queue note's text, tags removed."""
    found = re.search(r'<p id="queue-note"[^>]*>(.*?)</p>', page, re.S)
    if found is None:
        return None
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).replace("\xa0", " ")


def log_json(client, deploy, **query):
    path = reverse("deploy_log", args=[deploy.project.slug, deploy.number])
    return client.get(path, query).json()


@pytest.fixture
def other_project(charlie):
    """Charlie's project, deploying to the same Heroku app as alice's staging."""
    other = Project.objects.create(name="Secret Shop", slug="secret-shop", repository_url="/x")
    Membership.objects.create(project=other, user=charlie, role=Role.ADMIN)
    give_key(other, key_hash="charlies-key")
    return other


def checked_environment(project, key_hash):
    """An environment whose app Heroku confirmed with the project's key: its deploys take the
    app in their turn, so other projects' deploys wait behind them."""
    return make_environment(
        project,
        "shop",
        app_name=APP,
        app_checked_name=APP,
        app_checked_key_hash=key_hash,
        app_checked_at=timezone.now(),
    )


# The deploy page -----------------------------------------------------------------------------


def test_a_deploy_queued_behind_a_running_one_names_it_its_step_and_start(
    client_for, alice, project, staging, running
):
    waiting = queued(project, staging)
    page = page_of(client_for(alice), waiting)
    assert note_of(page) == (
        "Waiting behind #1 (running on foo-staging, step 3 of 4, started 2 minutes ago)."
    )
    assert f'<a href="{running.get_absolute_url()}">#1</a>' in page
    assert "Not started yet" in page and "Waiting for the first step" not in page


def test_the_second_in_line_names_the_running_deploy_and_the_one_ahead(
    client_for, alice, project, staging, running
):
    ahead = queued(project, make_environment(project, "review", app_name=APP))
    waiting = queued(project, staging)
    page = page_of(client_for(alice), waiting)
    assert note_of(page) == (
        "Waiting behind #1 (running on foo-staging, step 3 of 4, started 2 minutes ago); "
        "#2 is ahead of it in the queue."
    )
    assert f'<a href="{ahead.get_absolute_url()}">#2</a>' in page
    # The first in line is not held up by the second.
    assert "#3" not in note_of(page_of(client_for(alice), ahead))


def test_with_nothing_running_it_names_the_deploys_ahead(client_for, alice, project, staging):
    queued(project, make_environment(project, "review", app_name=APP))
    queued(project, make_environment(project, "demo", app_name=APP), started_at=timezone.now())
    waiting = queued(project, staging)
    assert note_of(page_of(client_for(alice), waiting)) == (
        "#1 and #2 (waiting for Heroku's git rate limit) are ahead of it in the queue."
    )


def test_with_nothing_ahead_it_waits_for_a_worker(client_for, alice, project, staging):
    make_deploy(
        project, make_environment(project, "other", app_name="another-app"), state="running"
    )
    waiting = queued(project, staging)
    assert note_of(page_of(client_for(alice), waiting)) == "Waiting for a worker to pick it up."


def test_a_deferred_deploy_says_until_when_heroku_s_git_rate_limit_holds_it(
    client_for, alice, project, staging
):
    give_key(project)
    until = ledger(APP, requests=0, retry_in=7).retry_at
    # The rate limit put it back in the queue after it started: it keeps its start.
    deferred = queued(project, staging, started_at=timezone.now() - timedelta(seconds=30))
    make_steps(deferred, [S, P])
    page = page_of(client_for(alice), deferred)
    assert note_of(page) == f"Waiting for Heroku's git rate limit until {until:%H:%M}."
    assert "Step 1 of 2" in text_of(page)  # it has begun, unlike a deploy that never started


def test_another_projects_running_deploy_is_named_without_its_details(
    client_for, alice, project, staging, other_project
):
    theirs = make_deploy(
        other_project, make_environment(other_project, "prod", app_name=APP), state="running"
    )
    make_steps(theirs, [S, R])
    mine = queued(project, staging)
    page = page_of(client_for(alice), mine)
    assert note_of(page) == (
        "Waiting behind a deploy of another project (running on foo-staging, started 1 minute ago)."
    )
    for detail in ("Secret Shop", "secret-shop", "step 2", theirs.sha[:7]):
        assert detail not in page
    data = log_json(client_for(alice), mine)
    assert data["queue"]["behind"] == [
        {
            "state": "running",
            "app": APP,
            "started_at": theirs.started_at.isoformat(),
            "project": None,
        }
    ]
    assert "Secret Shop" not in str(data)


def test_a_member_of_both_projects_sees_the_other_deploy_named_and_linked(
    client_for, alice, project, staging, other_project
):
    Membership.objects.create(project=other_project, user=alice, role=Role.VIEWER)
    theirs = make_deploy(
        other_project, make_environment(other_project, "prod", app_name=APP), state="running"
    )
    make_steps(theirs, [S, R])
    page = page_of(client_for(alice), queued(project, staging))
    assert note_of(page) == (
        "Waiting behind #1 of Secret Shop "
        "(running on foo-staging, step 2 of 2, started 1 minute ago)."
    )
    assert f'<a href="{theirs.get_absolute_url()}">' in page


def test_another_projects_steps_do_not_move_a_waiting_pages_version(
    client_for, alice, project, staging, other_project
):
    """Its steps are hidden from the note, so they must not show through the live version."""
    theirs = make_deploy(
        other_project, make_environment(other_project, "prod", app_name=APP), state="running"
    )
    make_steps(theirs, [S, R, P])
    mine = queued(project, staging)
    before = log_json(client_for(alice), mine, wait=1, timeout=0)["version"]
    theirs.steps.filter(position=2).update(state=StepState.SUCCEEDED)
    theirs.steps.filter(position=3).update(state=StepState.RUNNING)
    assert log_json(client_for(alice), mine, wait=1, timeout=0)["version"] == before


def test_another_projects_queued_deploy_counts_only_once_its_app_is_checked(
    client_for, alice, project, staging, other_project
):
    unchecked = make_environment(other_project, "prod", app_name=APP)
    queued(other_project, unchecked)  # it will fail its app check: nobody waits for it
    mine = queued(project, staging)
    assert note_of(page_of(client_for(alice), mine)) == "Waiting for a worker to pick it up."
    Deploy.objects.filter(project=other_project).delete()
    queued(other_project, checked_environment(other_project, "charlies-key"))
    later = queued(project, make_environment(project, "review", app_name=APP))
    assert note_of(page_of(client_for(alice), later)) == (
        "#1 and a deploy of another project are ahead of it in the queue."
    )


def test_the_note_follows_live_as_the_deploy_ahead_goes(
    client_for, alice, project, staging, running
):
    """The header's fingerprint holds the place: a change answers a waiting page at once."""
    ahead = queued(project, make_environment(project, "review", app_name=APP))
    mine = queued(project, staging)
    client = client_for(alice)
    first = log_json(client, mine, wait=1, timeout=0)
    assert first["queue"]["position"] == 2
    Deploy.objects.filter(pk=ahead.pk).update(state=State.CANCELED, finished_at=timezone.now())
    started = time.monotonic()
    data = log_json(client, mine, wait=1, timeout=10, version=first["version"])
    assert time.monotonic() - started < 5
    assert data["version"] != first["version"]
    assert data["queue"]["position"] == 1
    assert "#2" not in data["queue_html"] and "Waiting behind" in data["queue_html"]


@pytest.mark.django_db(transaction=True)
def test_a_waiting_page_hears_when_the_running_deploy_moves_to_its_next_step(
    client_for, alice, project, staging, running
):
    mine = queued(project, staging)
    client = client_for(alice)
    version = log_json(client, mine, wait=1, timeout=0)["version"]

    def next_step_later():
        time.sleep(0.4)
        running.steps.filter(position=3).update(state=StepState.SUCCEEDED)
        running.steps.filter(position=4).update(state=StepState.RUNNING)
        connection.close()

    stepper = threading.Thread(target=next_step_later)
    stepper.start()
    started = time.monotonic()
    data = log_json(client, mine, wait=1, timeout=10, version=version)
    stepper.join()
    assert 0.35 < time.monotonic() - started < 5  # well before the 10 s timeout
    assert "step 4 of 4" in data["queue_html"]


def test_once_it_starts_the_note_is_gone(client_for, alice, project, staging):
    mine = queued(project, staging)
    Deploy.objects.filter(pk=mine.pk).update(state=State.RUNNING, started_at=timezone.now())
    page = page_of(client_for(alice), mine)
    assert '<p id="queue-note"' in page and note_of(page) == ""
    data = log_json(client_for(alice), mine)
    assert data["queue"] is None and data["queue_html"] == ""


# History rows, project and home cards ------------------------------------------------------------


def history_of(client, project):
    return client.get(reverse("deploy_history", args=[project.slug])).content.decode()


def row_of(page, number):
    return re.search(rf'<tr><td><a href="[^"]+">#{number}</a>.*?</tr>', page, re.S).group(0)


def text_of(html):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def test_history_rows_show_each_queued_deploys_place(client_for, alice, project, staging, running):
    queued(project, make_environment(project, "review", app_name=APP))
    queued(project, staging)
    page = history_of(client_for(alice), project)
    assert "Queued 1st behind #1" in text_of(row_of(page, 2))
    assert "Queued 2nd behind #1" in text_of(row_of(page, 3))
    assert f'<a href="{running.get_absolute_url()}">#1</a>' in row_of(page, 3)


def test_history_rows_never_name_another_projects_deploy(
    client_for, alice, project, staging, other_project
):
    make_deploy(
        other_project, make_environment(other_project, "prod", app_name=APP), state="running"
    )
    queued(project, staging)
    Membership.objects.create(project=other_project, user=alice, role=Role.VIEWER)
    row = text_of(row_of(history_of(client_for(alice), project), 1))
    # Kept for every viewer of the project: never a name, even for a member of both.
    assert "Queued 1st behind another project's deploy" in row.replace("&#x27;", "'")
    assert "Secret Shop" not in row


def env_card(page, name):
    return re.search(
        rf'<li class="card env-card">\s*<div class="env-head">\s*<h3>{name}</h3>.*?</li>',
        page,
        re.S,
    ).group(0)


def test_an_environment_card_shows_the_running_deploy_and_how_many_are_queued(
    client_for, alice, project, staging, running
):
    newer = queued(project, staging)
    card = env_card(client_for(alice).get(project.get_absolute_url()).content.decode(), "staging")
    assert 'state-running">Running' in card and 'state-queued">Queued' not in card
    assert "#1 step 3 of 4" in text_of(card)
    assert f'<a href="{newer.get_absolute_url()}" class="env-queued">+1 queued</a>' in card


def test_an_environment_card_shows_a_queued_deploys_place(
    client_for, alice, project, staging, running
):
    review = make_environment(project, "review", app_name=APP)
    queued(project, review)
    card = env_card(client_for(alice).get(project.get_absolute_url()).content.decode(), "review")
    assert 'state-queued">Queued' in card
    assert "#2 1st behind #1" in text_of(card)


def test_home_cards_show_the_running_deploy_its_step_and_the_queue(
    client_for, alice, project, staging, running
):
    queued(project, staging)
    review = make_environment(project, "review", app_name=APP)
    queued(project, review)
    page = client_for(alice).get("/").content.decode()
    line = re.search(r'<span class="env-name">staging</span>.*?</li>', page, re.S).group(0)
    assert 'state-running">Running' in line and "step 3 of 4" in line and "+1 queued" in line
    line = re.search(r'<span class="env-name">review</span>.*?</li>', page, re.S).group(0)
    assert 'state-queued">Queued' in line and "2nd behind" in text_of(line)


def count_queries(client, path):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


def test_pages_with_queued_deploys_take_the_same_queries_for_10_and_1000_deploys(
    client_for, alice, project, staging, running
):
    from django.core.cache import caches

    give_key(project)
    review = make_environment(project, "review", app_name=APP)
    bulk_deploys(project, review, 10)
    queued(project, staging)
    queued(project, make_environment(project, "demo", app_name=APP))
    client = client_for(alice)
    paths = ["/", project.get_absolute_url(), reverse("deploy_history", args=[project.slug])]
    client.get("/")  # the session
    with_10 = []
    for path in paths:
        caches["pages"].clear()
        with_10.append(count_queries(client, path))
    bulk_deploys(project, review, 990)
    queued(project, make_environment(project, "qa", app_name=APP))
    for path, before in zip(paths, with_10, strict=True):
        caches["pages"].clear()
        assert count_queries(client, path) == before, path


# The API ---------------------------------------------------------------------------------------


def test_the_api_says_where_a_queued_deploy_waits(client, alice, project, staging, running):
    queued(project, make_environment(project, "review", app_name=APP))
    mine = queued(project, staging)
    token = ApiToken.issue(alice, "tests")[1]
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/api/v1/projects/{project.slug}/deploys/"
    data = client.get(f"{path}{mine.number}/", headers=headers).json()
    queue = data["queue"]
    assert (queue["position"], queue["waiting_for"], queue["until"]) == (2, "deploys", None)
    assert [(d["number"], d["state"]) for d in queue["behind"]] == [(1, "running"), (2, "queued")]
    assert queue["behind"][0] | {"step": 3, "steps": 4} == queue["behind"][0]
    assert queue["text"].startswith("Waiting behind #1 (running on foo-staging, step 3 of 4")
    listed = client.get(path, headers=headers).json()["deploys"]
    assert [d["queue"] and d["queue"]["position"] for d in listed] == [2, 1, None]


@pytest.mark.parametrize(
    "number, text",
    [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"), (13, "13th"),
     (21, "21st"), (22, "22nd"), (101, "101st"), (111, "111th")],
)  # fmt: skip
def test_places_read_as_ordinals(number, text):
    assert ordinal(number) == text
