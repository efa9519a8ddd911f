"""The live log as server-sent events, over real HTTP from uvicorn (tests/asgi_server.py): line
cursors as event ids, resuming without gap or duplicate, the final state, access checked when a
stream opens, resumes and while it runs, limits, and the Redis fan-out (or polling without it)."""

import json
import time

import httpx
import pytest
import redis
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from deploys import announce, stream
from deploys.logwriter import LogWriter
from deploys.models import Deploy, State, StepState
from projects.models import Membership, Role
from tests.deploys.factories import append_lines, make_deploy, make_steps

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _redis(redis_up):
    """The embedded Redis runs (the stream works without it too: see the test saying so)."""


def cookie_of(user) -> dict:
    client = Client()
    client.force_login(user, backend="projects.backends.ModelBackend")
    return {"sessionid": client.cookies["sessionid"].value}


def stream_url(deploy, after=None):
    url = f"/projects/{deploy.project.slug}/deploys/{deploy.number}/log/stream"
    return url if after is None else f"{url}?after={after}"


class Events:
    """The events of one open stream, read as a browser's EventSource reads them."""

    def __init__(self, response):
        self.response = response
        self.lines = response.iter_lines()

    def next(self) -> dict:
        event = {}
        for line in self.lines:
            if not line:
                if event:
                    return event
                continue
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "":
                event.setdefault("comment", value)
            else:
                joined = field == "data" and field in event
                event[field] = event[field] + "\n" + value if joined else value
        return {"closed": True}

    def until(self, name) -> list[dict]:
        """Every event up to and with the first `name` one."""
        seen = []
        while True:
            event = self.next()
            seen.append(event)
            if event.get("event") == name or event.get("closed"):
                return seen


def line_numbers(events) -> list[int]:
    numbers = []
    for event in events:
        if event.get("event") == "lines":
            batch = json.loads(event["data"])
            assert int(event["id"]) == batch[-1][0]
            numbers += [line[0] for line in batch]
    return numbers


@pytest.fixture
def http(asgi_server):
    clients = []

    def open_client(user=None):
        client = httpx.Client(
            base_url=asgi_server.url,
            cookies=cookie_of(user) if user else None,
            timeout=httpx.Timeout(15.0),
        )
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()


def running_deploy(project, lines=0):
    deploy = make_deploy(project, state=State.RUNNING, finished_at=None)
    make_steps(deploy, [StepState.RUNNING], first_lines={1: 1})
    if lines:
        append_lines(deploy, [f"line {n}" for n in range(1, lines + 1)])
    return deploy


def finish(deploy):
    Deploy.objects.filter(pk=deploy.pk).update(state=State.SUCCEEDED, finished_at=timezone.now())
    deploy.steps.update(state=StepState.SUCCEEDED)


def test_a_finished_deploy_streams_its_lines_with_their_numbers_as_ids_then_ends(
    http, alice, project
):
    deploy = make_deploy(project)
    append_lines(deploy, [f"line {n}" for n in range(1, 2501)])
    with http(alice).stream("GET", stream_url(deploy)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = Events(response).until("end")
    assert line_numbers(events) == list(range(1, 2501))
    states = [e for e in events if e.get("event") == "state"]
    assert len(states) == 1 and '"state": "succeeded"' in states[0]["data"]
    assert events[-1]["event"] == "end"


def test_a_resumed_stream_goes_on_after_the_last_event_id_with_no_gap_and_none_twice(
    http, alice, project
):
    deploy = running_deploy(project, lines=3)
    client = http(alice)
    with client.stream("GET", stream_url(deploy)) as response:
        events = Events(response)
        first = [events.next() for _ in range(2)]  # retry, then lines 1..3
        last_id = first[-1]["id"]
    assert last_id == "3"
    append_lines(deploy, ["line 4", "line 5"])
    headers = {"Last-Event-ID": last_id}
    with client.stream("GET", stream_url(deploy, after=0), headers=headers) as response:
        events = Events(response)
        append_lines(deploy, ["line 6"])
        seen = []
        while 6 not in line_numbers(seen):
            seen.append(events.next())
        finish(deploy)
        seen += events.until("end")
    assert line_numbers(first) + line_numbers(seen) == [1, 2, 3, 4, 5, 6]
    assert seen[-1] == {"event": "end", "data": '{"state": "succeeded"}'}


@pytest.mark.parametrize("bad", ["abc", "-1", "3.0", "99999999999", "1 2", ""])
def test_a_malformed_last_event_id_starts_from_the_first_line(http, alice, project, bad):
    deploy = make_deploy(project)
    append_lines(deploy, ["one", "two"])
    headers = {"Last-Event-ID": bad}
    with http(alice).stream("GET", stream_url(deploy, after=1), headers=headers) as response:
        assert line_numbers(Events(response).until("end")) == [1, 2]


def test_a_stream_sends_state_changes_and_a_heartbeat_while_the_log_is_silent(
    http, alice, project, monkeypatch
):
    monkeypatch.setattr(stream, "HEARTBEAT_SECONDS", 0.3)
    deploy = running_deploy(project, lines=1)
    with http(alice).stream("GET", stream_url(deploy, after=1)) as response:
        events = Events(response)
        assert events.next()["retry"] == str(stream.RETRY_MS)
        assert '"state": "running"' in events.next()["data"]
        assert events.next() == {"comment": "heartbeat"}
        finish(deploy)
        ending = events.until("end")
    assert '"state": "succeeded"' in ending[-2]["data"]


def test_an_outsider_gets_404_and_a_stranger_is_asked_to_sign_in(http, charlie, project):
    deploy = running_deploy(project, lines=1)
    assert http(charlie).get(stream_url(deploy)).status_code == 404
    assert http().get(stream_url(deploy)).status_code == 302  # to the sign-in page
    missing = stream_url(deploy).replace(f"/{deploy.number}/", "/999/")
    assert http(charlie).get(missing).status_code == 404


def test_access_is_checked_again_when_a_stream_resumes(http, bob_as, project):
    bob = bob_as(Role.VIEWER)
    deploy = running_deploy(project, lines=2)
    client = http(bob)
    with client.stream("GET", stream_url(deploy)) as response:
        assert line_numbers(Events(response).until("lines")) == [1, 2]
    Membership.objects.filter(user=bob).delete()
    response = client.get(stream_url(deploy), headers={"Last-Event-ID": "2"})
    assert response.status_code == 404


def test_a_viewer_who_loses_access_stops_receiving(http, bob_as, project, settings):
    settings.LIVE_STREAM_ACCESS_SECONDS = 0.2
    bob = bob_as(Role.VIEWER)
    deploy = running_deploy(project, lines=1)
    with http(bob).stream("GET", stream_url(deploy)) as response:
        events = Events(response)
        events.until("lines")
        Membership.objects.filter(user=bob).delete()
        time.sleep(0.6)  # access is checked every LIVE_STREAM_ACCESS_SECONDS
        append_lines(deploy, ["not for bob"])
        rest = events.until("denied")
    assert rest[-1]["event"] == "denied" and "not for bob" not in str(rest)


def test_a_viewer_who_signs_out_stops_receiving(http, alice, project, settings):
    settings.LIVE_STREAM_ACCESS_SECONDS = 0.2
    deploy = running_deploy(project, lines=1)
    client = http(alice)
    with client.stream("GET", stream_url(deploy)) as response:
        events = Events(response)
        events.until("lines")
        signed_in = Client()
        signed_in.cookies["sessionid"] = client.cookies["sessionid"]
        signed_in.logout()  # as the sign-out button does: the session is gone
        assert events.until("denied")[-1]["event"] == "denied"


def test_streams_are_limited_per_user_with_a_sentence_saying_why(http, alice, project, settings):
    settings.LIVE_STREAMS_MAX_PER_USER = 1
    deploy = running_deploy(project, lines=1)
    client = http(alice)
    with client.stream("GET", stream_url(deploy)) as response:
        events = Events(response)  # kept: a reader dropped closes its connection
        events.until("lines")
        refused = http(alice).get(stream_url(deploy))
        assert refused.status_code == 429
        assert "Too many live log streams" in refused.text
    # Closed, it is counted no more.
    deadline = time.monotonic() + 5
    while stream._open and time.monotonic() < deadline:
        time.sleep(0.05)
    with client.stream("GET", stream_url(deploy)) as response:
        assert response.status_code == 200


def test_viewers_of_one_process_share_one_subscription_and_see_announced_lines_at_once(
    http, alice, project
):
    deploy = running_deploy(project)
    client = http(alice)
    connection = redis.Redis.from_url(django_settings.REDIS_URL)
    with (
        client.stream("GET", stream_url(deploy)) as first,
        client.stream("GET", stream_url(deploy)) as second,
        client.stream("GET", stream_url(deploy)) as third,
    ):
        readers = [Events(r) for r in (first, second, third)]
        for reader in readers:
            reader.until("state")
        [(_, subscribers)] = connection.pubsub_numsub(announce.channel(deploy.pk))
        assert subscribers == 1
        writer = LogWriter(deploy)
        writer.write("announced")
        started = time.monotonic()
        for reader in readers:
            assert line_numbers(reader.until("lines")) == [1]
        # Stored at once (it follows a quiet moment), announced, read: well under the 0.5 s
        # after which a watch would have found it by looking at the header.
        assert time.monotonic() - started < 0.45
        writer.close()


def test_without_redis_the_stream_still_follows_the_log(http, alice, project, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    deploy = running_deploy(project, lines=1)
    with http(alice).stream("GET", stream_url(deploy)) as response:
        events = Events(response)
        assert line_numbers(events.until("lines")) == [1]
        append_lines(deploy, ["polled"])
        assert line_numbers(events.until("lines")) == [2]
        finish(deploy)
        assert events.until("end")[-1]["event"] == "end"


def test_under_a_wsgi_server_a_stream_answers_what_is_there_at_once_and_closes(
    client_for, alice, project
):
    deploy = running_deploy(project, lines=2)
    started = time.monotonic()
    response = client_for(alice).get(stream_url(deploy), HTTP_LAST_EVENT_ID="1")
    assert time.monotonic() - started < 2
    assert response["Content-Type"] == "text/event-stream"
    body = response.content.decode()
    assert "id: 2\nevent: lines\n" in body and '"line 1"' not in body
    assert "event: state" in body and "event: end" not in body  # still running


KEY = "HRKU-AAbbCCddEEff0011-2233-4455-66778899aabb"


def test_a_viewer_who_opens_later_gets_no_part_of_a_secret_the_writer_cut_out_since(
    http, alice, project
):
    """A key printed over two lines: its first half is stored (and read by the watch) before
    the second half shows it is the key; the writer then cuts it out of the stored line. A
    viewer who opens the stream afterwards gets the line as stored now, not as the watch read it."""
    deploy = running_deploy(project)
    client = http(alice)
    writer = LogWriter(deploy, [KEY])
    with client.stream("GET", stream_url(deploy)) as first:
        reader = Events(first)
        reader.until("state")
        writer.write("token " + KEY[:25])
        writer.flush()
        assert line_numbers(reader.until("lines")) == [1]  # the watch has read line 1
        writer.write(KEY[25:] + " end")
        writer.flush()
        reader.until("lines")
        with client.stream("GET", stream_url(deploy)) as later:
            events, seen = Events(later), []
            while len(line_numbers(seen)) < 2:
                seen += events.until("lines")
        writer.close()
    assert line_numbers(seen) == [1, 2]
    sent = [json.loads(e["data"]) for e in seen if e.get("event") == "lines"]
    assert KEY[:16] not in json.dumps(sent)


def test_a_viewer_who_opens_after_a_scrub_gets_the_scrubbed_lines(http, alice, project):
    """A scrub rewrites the stored lines of a deploy still running (a secret changed): the
    process's watch kept them as they were; a viewer who opens later gets them scrubbed."""
    from deploys import scrub

    old_key = "old-secret-" + "x1y2z3" * 4
    deploy = running_deploy(project)
    client = http(alice)
    writer = LogWriter(deploy)
    with client.stream("GET", stream_url(deploy)) as first:
        reader = Events(first)
        reader.until("state")
        writer.write(f"using {old_key}")
        writer.flush()
        assert line_numbers(reader.until("lines")) == [1]  # the watch has read line 1
        made = scrub.start(project, alice, "The key was replaced", values=[old_key])
        assert scrub.run_scrub(made.pk) == "done"
        made.refresh_from_db()
        assert made.chunks_changed == 1
        time.sleep(1.5)  # the watch takes the announcement within a second
        with client.stream("GET", stream_url(deploy)) as later:
            seen = Events(later).until("lines")
        writer.close()
    assert line_numbers(seen) == [1]
    assert old_key not in json.dumps([e.get("data") for e in seen])
