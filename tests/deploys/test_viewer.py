"""The deploy page, its log endpoint (cursor + long poll), search and raw download."""

import threading
import time

import pytest
from django.db import connection
from django.urls import reverse

from deploys.models import Deploy, State, StepState
from projects.models import Role
from tests.deploys.factories import append_lines, make_deploy, make_steps

pytestmark = pytest.mark.django_db

URL_NAMES = ["deploy", "deploy_log", "deploy_log_search", "deploy_log_raw"]


@pytest.fixture
def deploy(project):
    deploy = make_deploy(project, state=State.FAILED, reason="The migration exited with 1.")
    make_steps(deploy, [StepState.SUCCEEDED, StepState.FAILED], first_lines={1: 1, 2: 4})
    append_lines(deploy, ["cloning", "checked out", "pushing"], step=1)
    failing = ["\x1b[31mboom\x1b[0m <script>alert(1)</script>", "10%\r50%\r100%"]
    append_lines(deploy, failing, step=2)
    return deploy


def url(name, deploy, **query):
    path = reverse(name, args=[deploy.project.slug, deploy.number])
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


@pytest.mark.parametrize("name", URL_NAMES)
def test_every_deploy_url_requires_sign_in(client, deploy, name):
    response = client.get(url(name, deploy))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", URL_NAMES)
def test_an_outsider_gets_404_on_every_deploy_url(client_for, charlie, deploy, name):
    assert client_for(charlie).get(url(name, deploy)).status_code == 404


@pytest.mark.parametrize("name", URL_NAMES)
def test_a_viewer_can_read_every_deploy_url(client_for, bob_as, deploy, name):
    assert client_for(bob_as(Role.VIEWER)).get(url(name, deploy)).status_code == 200


def test_an_unknown_deploy_number_is_404(client_for, alice, deploy):
    path = reverse("deploy", args=[deploy.project.slug, 999])
    assert client_for(alice).get(path).status_code == 404


def test_the_page_shows_header_steps_and_reason(client_for, alice, deploy):
    page = client_for(alice).get(url("deploy", deploy)).content.decode()
    assert f"Deploy #{deploy.number} to staging" in page
    assert 'class="badge state state-failed">Failed' in page
    assert deploy.short_sha in page and deploy.sha in page
    assert "The migration exited with 1." in page
    assert 'Step <span id="steps-done">2</span> of 2' in page
    assert "1m 12s" in page
    assert "Download raw log" in page


def test_the_page_embeds_no_log_line(client_for, alice, deploy):
    # Lines come through the JSON endpoint; the page itself stays small whatever the log size.
    page = client_for(alice).get(url("deploy", deploy)).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "cloning" not in page


def test_log_returns_lines_after_the_cursor(client_for, alice, deploy):
    data = client_for(alice).get(url("deploy_log", deploy, after=2, limit=2)).json()
    assert [line[0] for line in data["lines"]] == [3, 4]
    assert data["lines"][0][4] == "pushing"
    assert data["line_count"] == 5
    assert data["finished"] is True
    assert [s["first_line"] for s in data["steps"]] == [1, 4]


def test_a_finished_deploy_answers_at_once_even_when_asked_to_wait(client_for, alice, deploy):
    started = time.monotonic()
    data = client_for(alice).get(url("deploy_log", deploy, after=5, wait=1)).json()
    assert data["lines"] == [] and data["finished"] is True
    assert time.monotonic() - started < 1


def test_a_running_deploy_holds_the_request_until_the_timeout(client_for, alice, project):
    deploy = make_deploy(project, state=State.RUNNING)
    started = time.monotonic()
    data = client_for(alice).get(url("deploy_log", deploy, wait=1, timeout=0.5)).json()
    assert data["lines"] == [] and data["finished"] is False
    assert 0.45 < time.monotonic() - started < 3


@pytest.mark.django_db(transaction=True)
def test_a_waiting_request_answers_as_soon_as_a_line_is_written(client_for, alice, project):
    deploy = make_deploy(project, state=State.RUNNING)

    def write_later():
        time.sleep(0.4)
        append_lines(deploy, ["hello from the step"])
        connection.close()

    writer = threading.Thread(target=write_later)
    writer.start()
    started = time.monotonic()
    data = client_for(alice).get(url("deploy_log", deploy, wait=1, timeout=10)).json()
    elapsed = time.monotonic() - started
    writer.join()
    assert [line[4] for line in data["lines"]] == ["hello from the step"]
    assert 0.35 < elapsed < 5  # well before the 10 s timeout


def test_bad_cursor_values_are_read_as_zero(client_for, alice, deploy):
    data = client_for(alice).get(url("deploy_log", deploy, after="abc", limit="-3")).json()
    assert [line[0] for line in data["lines"]] == [1]


def test_search_matches_visible_text_case_insensitively(client_for, alice, deploy):
    client = client_for(alice)
    assert client.get(url("deploy_log_search", deploy, q="BOOM")).json()["matches"] == [4]
    # "50%" was overwritten by a carriage return: a terminal no longer shows it.
    assert client.get(url("deploy_log_search", deploy, q="50%")).json()["total"] == 0
    assert client.get(url("deploy_log_search", deploy, q="100%")).json()["matches"] == [5]
    # Escape codes are not text.
    assert client.get(url("deploy_log_search", deploy, q="[31m")).json()["total"] == 0


def test_download_streams_the_raw_log_as_plain_text(client_for, alice, deploy):
    response = client_for(alice).get(url("deploy_log_raw", deploy))
    assert response.streaming
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert 'filename="foo-bar-deploy-1.log"' in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[:3] == ["cloning", "checked out", "pushing"]
    assert "\x1b[31mboom" in body


def test_download_yields_one_piece_per_chunk(client_for, alice, project):
    deploy = make_deploy(project)
    append_lines(deploy, [f"line {n}" for n in range(1, 1201)], chunk_size=100)
    pieces = list(client_for(alice).get(url("deploy_log_raw", deploy)).streaming_content)
    assert len(pieces) == 12
    assert pieces[-1].decode().splitlines()[-1] == "line 1200"


def test_the_app_links_to_its_web_url_as_heroku_reported_it(client_for, alice, project):
    from projects.models import Environment

    environment = Environment.objects.create(
        project=project,
        name="staging",
        branch="main",
        app_name="foo-bar-123",
        web_url="https://foo-bar-123-0123456789ab.herokuapp.com/",
    )
    deploy = make_deploy(project, environment=environment)
    page = client_for(alice).get(deploy.get_absolute_url()).content.decode()
    assert '<a href="https://foo-bar-123-0123456789ab.herokuapp.com/"' in page


def test_log_json_carries_what_the_header_shows(client_for, alice, deploy):
    data = client_for(alice).get(url("deploy_log", deploy, after=5)).json()
    assert data["state"] == "failed" and data["label"] == "Failed"
    assert data["reason"] == "The migration exited with 1."
    assert data["sha"] == deploy.sha
    assert data["started_at"] and data["finished_at"]
    assert [(s["state"], s["label"], s["title"]) for s in data["steps"]] == [
        ("succeeded", "Succeeded", "Check out the code"),
        ("failed", "Failed", "Push to Heroku"),
    ]
    assert data["steps"][0]["duration"] == 72


def test_a_step_not_started_reads_queued_on_the_page_and_in_the_json(client_for, alice, project):
    deploy = make_deploy(project, state=State.RUNNING)
    make_steps(deploy, [StepState.RUNNING, StepState.PENDING])
    client = client_for(alice)
    steps = client.get(url("deploy_log", deploy)).json()["steps"]
    assert [(s["state"], s["label"]) for s in steps] == [
        ("running", "Running"),
        ("queued", "Queued"),
    ]
    page = client.get(url("deploy", deploy)).content.decode()
    assert 'class="badge state state-queued">Queued' in page
    assert "Pending" not in page


def test_a_queued_deploy_shows_an_empty_progress_card_and_no_commit(client_for, alice, project):
    deploy = make_deploy(project, state=State.QUEUED, sha="")
    page = client_for(alice).get(url("deploy", deploy)).content.decode()
    assert "Not started yet" in page and "Waiting for the first step" not in page
    assert "Waiting for a worker to pick it up." in page  # nothing ahead of it
    assert '<ol class="step-list" id="step-list">' in page
    assert "Not yet" in page
    assert "Cancel deploy" in page


@pytest.mark.django_db(transaction=True)
def test_a_waiting_request_answers_when_a_queued_deploy_starts(client_for, alice, project):
    deploy = make_deploy(project, state=State.QUEUED, sha="")
    client = client_for(alice)
    version = client.get(url("deploy_log", deploy, wait=1, timeout=0)).json()["version"]

    def start_later():
        time.sleep(0.4)
        Deploy.objects.filter(pk=deploy.pk).update(state=State.RUNNING, sha="f" * 40)
        connection.close()

    starter = threading.Thread(target=start_later)
    starter.start()
    started = time.monotonic()
    data = client.get(url("deploy_log", deploy, wait=1, timeout=10, version=version)).json()
    elapsed = time.monotonic() - started
    starter.join()
    assert data["state"] == "running" and data["sha"] == "f" * 40 and data["lines"] == []
    assert data["version"] != version
    assert 0.35 < elapsed < 5  # well before the 10 s timeout


def test_a_page_with_an_old_header_is_answered_at_once(client_for, alice, project):
    deploy = make_deploy(project, state=State.RUNNING)
    started = time.monotonic()
    data = client_for(alice).get(url("deploy_log", deploy, wait=1, version="old")).json()
    assert time.monotonic() - started < 1
    assert data["version"] != "old"


def test_a_finished_deploy_answers_with_its_buttons(client_for, alice, bob_as, deploy):
    Deploy.objects.filter(pk=deploy.pk).update(previous_release_id="release-1")
    data = client_for(alice).get(url("deploy_log", deploy, after=5, wait=1)).json()
    assert "Retry deploy" in data["actions"] and "Roll back" in data["actions"]
    assert "Cancel deploy" not in data["actions"]
    assert "csrfmiddlewaretoken" in data["actions"]
    viewer = client_for(bob_as(Role.VIEWER)).get(url("deploy_log", deploy, after=5, wait=1))
    assert viewer.json()["actions"].strip() == ""


def test_a_running_deploy_answers_without_buttons(client_for, alice, project):
    deploy = make_deploy(project, state=State.RUNNING)
    data = client_for(alice).get(url("deploy_log", deploy, wait=1, timeout=0)).json()
    assert "actions" not in data


@pytest.mark.django_db(transaction=True)
def test_viewers_waiting_on_one_deploy_all_get_the_new_line(
    client_for, alice, bob_as, project, settings
):
    # One of them reads the database, the others take the answer it leaves; each still gets it.
    # Five wait at once, four of them alice's (the bounds have their own tests).
    settings.LOG_WAIT_MAX_PER_PROCESS = settings.LOG_WAIT_MAX_PER_USER = 5
    deploy = make_deploy(project, state=State.RUNNING)
    viewers = [client_for(alice), client_for(bob_as(Role.VIEWER))] + [
        client_for(alice) for _ in range(3)
    ]
    answers = [None] * len(viewers)

    def watch(index):
        answers[index] = viewers[index].get(url("deploy_log", deploy, wait=1, timeout=10)).json()
        connection.close()

    threads = [threading.Thread(target=watch, args=(i,)) for i in range(len(viewers))]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    append_lines(deploy, ["compiling", "linking"])
    for thread in threads:
        thread.join(15)
    for answer in answers:
        assert [line[4] for line in answer["lines"]] == ["compiling", "linking"]
        assert answer["line_count"] == 2 and answer["finished"] is False


def test_a_shared_answer_is_never_given_to_an_outsider(client_for, alice, charlie, project):
    deploy = make_deploy(project, state=State.RUNNING)
    append_lines(deploy, ["secret build output"])
    kept = client_for(alice).get(url("deploy_log", deploy, wait=1))
    assert "secret build output" in kept.content.decode()
    response = client_for(charlie).get(url("deploy_log", deploy, wait=1))
    assert response.status_code == 404
    assert b"secret build output" not in response.content


def test_a_shared_answer_moves_its_viewer_on_and_the_next_one_is_fresh(client_for, alice, project):
    deploy = make_deploy(project, state=State.RUNNING)
    append_lines(deploy, ["one"])
    client = client_for(alice)
    first = client.get(url("deploy_log", deploy, wait=1)).json()
    assert [line[4] for line in first["lines"]] == ["one"]
    append_lines(deploy, ["two"])
    after = client.get(url("deploy_log", deploy, wait=1, after=1)).json()
    assert [line[4] for line in after["lines"]] == ["two"]
    assert after["line_count"] == 2


def test_the_answer_that_a_deploy_finished_is_not_shared(client_for, alice, bob_as, project):
    # It carries the buttons of the person who asked, by role.
    deploy = make_deploy(project, state=State.SUCCEEDED)
    append_lines(deploy, ["done"])
    admin = client_for(alice).get(url("deploy_log", deploy, wait=1)).json()
    viewer = client_for(bob_as(Role.VIEWER)).get(url("deploy_log", deploy, wait=1)).json()
    assert "Roll back" in admin["actions"] or "Retry" in admin["actions"]
    assert admin["actions"] != viewer["actions"]
