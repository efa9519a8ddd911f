"""The log writer: chunks, order, speed, and secrets that never reach the database."""

import base64
import json
import threading
import time
from urllib.parse import quote

import pytest
import redis
from django.db import connection

from deploys import announce, logwriter
from deploys.logformat import STDERR, read_lines
from deploys.logwriter import (
    CHUNK_LINES,
    MAX_LINE,
    LogWriter,
    private_key_secrets,
)
from tests.deploys.factories import make_deploy

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "HRKU-0123456789abcdef-secret"
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACDrEXAMPLEONLYxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxAAAAJgAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


@pytest.fixture
def deploy(project):
    return make_deploy(project)


def stored(deploy):
    return [line.text for line in read_lines(deploy, limit=1_000_000)]


def raw_columns(deploy):
    with connection.cursor() as cursor:
        cursor.execute("SELECT content FROM deploys_logchunk WHERE deploy_id = %s", [deploy.pk])
        return "\n".join(row[0] for row in cursor.fetchall())


def test_a_burst_of_200000_lines_is_stored_whole_and_in_order(deploy):
    # How fast is `make bench`'s figure (log_ingest_lines_per_s_*), never a timed test.
    writer = LogWriter(deploy, [SECRET])
    for number in range(200_000):
        writer.write(f"line {number} of the build output")
    writer.close()
    lines = stored(deploy)
    assert len(lines) == 200_000
    assert lines[0] == "line 0 of the build output"
    assert lines[-1] == "line 199999 of the build output"
    # Full chunks, plus a few partial ones the 100 ms flusher stored on the way.
    assert 200_000 // CHUNK_LINES <= deploy.log_chunks.count() < 200_000 // CHUNK_LINES + 20
    deploy.refresh_from_db()
    assert deploy.line_count == 200_000


def test_a_line_is_readable_a_fraction_of_a_second_after_it_was_written(deploy):
    writer = LogWriter(deploy)
    writer.write("first")
    deadline = time.monotonic() + 0.5
    while not stored(deploy) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stored(deploy) == ["first"]
    writer.write("second", STDERR)
    writer.close()
    lines = read_lines(deploy)
    assert [(line.number, line.text, line.stream) for line in lines] == [
        (1, "first", "o"),
        (2, "second", "e"),
    ]


def test_closing_stores_the_last_lines_at_once_not_on_the_next_flush_tick(deploy, monkeypatch):
    # With an hour between ticks, a close() that waited for the flusher would give up on it
    # only after its 5 s join; closing at once takes milliseconds, even on a busy machine.
    monkeypatch.setattr(logwriter, "FLUSH_DELAY", 3600)
    monkeypatch.setattr(logwriter, "QUIET", 3600)  # no line counts as following a quiet moment
    writer = LogWriter(deploy)
    writer.write("Deploy succeeded.")
    time.sleep(0.01)  # the flusher has woken up and waits out its delay
    closing = threading.Thread(target=writer.close)
    closing.start()
    closing.join(2.5)
    assert not closing.is_alive(), "close() waited for the flusher's next tick"
    assert stored(deploy) == ["Deploy succeeded."]


def test_a_line_after_a_quiet_moment_is_stored_at_once_and_a_burst_waits_for_more(
    deploy, monkeypatch
):
    # With an hour's flush delay, only the quiet-moment rule can store a line within seconds.
    monkeypatch.setattr(logwriter, "FLUSH_DELAY", 3600)
    monkeypatch.setattr(logwriter, "QUIET", 2.5)  # the burst below comes within it, however slow
    writer = LogWriter(deploy)
    writer.write("after a pause")
    deadline = time.monotonic() + 2
    while not stored(deploy) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stored(deploy) == ["after a pause"]
    for number in range(3):  # right after a store: not quiet, they wait (here: for close)
        writer.write(f"burst {number}")
    time.sleep(0.3)
    assert stored(deploy) == ["after a pause"]
    writer.close()
    assert stored(deploy) == ["after a pause", "burst 0", "burst 1", "burst 2"]
    assert deploy.log_chunks.count() == 2


def test_each_stored_chunk_is_announced_by_its_range_not_its_lines(deploy, redis_up):
    from django.conf import settings

    subscriber = redis.Redis.from_url(settings.REDIS_URL).pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe(announce.channel(deploy.pk))
    writer = LogWriter(deploy, [SECRET])
    writer.write(f"one {SECRET}\ntwo")
    writer.close()
    deadline, message = time.monotonic() + 5, None
    while message is None and time.monotonic() < deadline:  # None too for the subscription
        message = subscriber.get_message(timeout=1)
    subscriber.close()
    assert message["data"] == b"1 2"


def test_a_new_writer_numbers_its_lines_after_the_stored_ones(deploy):
    first = LogWriter(deploy)
    first.write("one\ntwo")
    first.close()
    deploy.refresh_from_db()
    second = LogWriter(deploy)
    second.write("three")
    second.close()
    assert [line.number for line in read_lines(deploy)] == [1, 2, 3]


@pytest.mark.parametrize(
    "form",
    [
        SECRET,
        base64.b64encode(SECRET.encode()).decode(),
        base64.b64encode(f":{SECRET}".encode()).decode(),  # an HTTP Basic auth header
        base64.b64encode(f"heroku:{SECRET}".encode()).decode(),
        quote(f"{SECRET}/+ ?&=", safe=""),
        json.dumps(f'{SECRET}"\\')[1:-1],
    ],
)
def test_a_secret_is_redacted_in_every_form_before_it_is_stored(deploy, form):
    secret = f"{SECRET}/+ ?&=" if "%2F" in form else f'{SECRET}"\\' if '\\"' in form else SECRET
    writer = LogWriter(deploy, [secret])
    writer.write(f"Authorization: Basic {form} and more")
    writer.close()
    text = raw_columns(deploy)
    assert SECRET not in text
    assert "[redacted]" in text
    core = base64.b64encode(f":{SECRET}".encode()).decode()[4:-4]
    assert core not in text


def test_every_line_of_the_private_key_is_redacted(deploy):
    writer = LogWriter(deploy, private_key_secrets(PRIVATE_KEY))
    writer.write(PRIVATE_KEY)
    for line in PRIVATE_KEY.splitlines():
        writer.write(f"debug: {line}")
    writer.close()
    text = raw_columns(deploy)
    for line in PRIVATE_KEY.splitlines()[1:3]:
        assert line not in text
    assert "debug: [redacted]" in text


def test_a_private_key_printed_whole_keeps_every_line_and_the_lines_after_it(deploy):
    writer = LogWriter(deploy, private_key_secrets(PRIVATE_KEY))
    writer.lines(["before", *PRIVATE_KEY.splitlines(), "after"])
    writer.close()
    lines = stored(deploy)
    assert len(lines) == len(PRIVATE_KEY.splitlines()) + 2
    assert lines[0] == "before"
    assert lines[-1] == "after"
    assert lines[2:-2] == ["[redacted]"] * (len(lines) - 4)  # the key's body


def test_lines_written_in_many_small_pieces_keep_their_order_and_streams(deploy):
    writer = LogWriter(deploy)
    for number in range(5000):
        writer.step = number // 1000
        writer.lines(
            [f"out {number}"] if number % 3 else [f"err {number}"], "o" if number % 3 else "e"
        )
    writer.close()
    lines = read_lines(deploy, limit=10_000)
    assert [line.number for line in lines] == list(range(1, 5001))
    for number, line in enumerate(lines):
        assert (line.step, line.stream) == (number // 1000, "o" if number % 3 else "e")
        assert line.text == (f"out {number}" if number % 3 else f"err {number}")


def test_secrets_added_during_the_deploy_are_redacted_from_then_on(deploy):
    writer = LogWriter(deploy)
    writer.add_secrets(["config-var-value-123"])
    writer.write("DATABASE_URL=config-var-value-123")
    writer.close()
    assert stored(deploy) == ["DATABASE_URL=[redacted]"]


def test_nul_bytes_are_stripped_and_long_lines_capped_after_redaction(deploy):
    writer = LogWriter(deploy, [SECRET])
    writer.write("a\0b")
    writer.write("x" * (MAX_LINE - 5) + SECRET)
    writer.close()
    lines = stored(deploy)
    assert lines[0] == "ab"
    assert SECRET[:5] not in lines[1]
    assert len(lines[1]) <= MAX_LINE + len(" [cut]")


def test_past_the_line_cap_output_is_counted_and_dropped_with_one_line_saying_so(deploy, settings):
    settings.LOG_MAX_LINES = 1000
    writer = LogWriter(deploy)
    for start in range(0, 12_345 + 1000, 500):
        writer.lines([f"out {n}" for n in range(start, min(start + 500, 13_345))])
    writer.system("Release v12 is live")  # herokucd's own lines still go in: the deploy goes on
    writer.close()
    lines = stored(deploy)
    assert lines[:1000] == [f"out {n}" for n in range(1000)]
    assert lines[1000] == "Release v12 is live"
    assert lines[1001].startswith("Log limit reached: 12,345 more lines were not stored")
    assert len(lines) == 1002
    deploy.refresh_from_db()
    assert deploy.line_count == 1002


def test_past_the_size_cap_output_is_dropped_even_under_the_line_cap(deploy, settings):
    settings.LOG_MAX_MB = 1
    writer = LogWriter(deploy)
    writer.lines(["x" * 1000] * 999 + ["y" * 1000, "z" * 1000, "too much"])
    writer.write("and more")
    writer.close()
    lines = stored(deploy)
    assert lines[:1000] == ["x" * 1000] * 999 + ["y" * 1000]  # 1,000,000 characters
    assert lines[1000].startswith("Log limit reached: 3 more lines were not stored")
    assert len(lines) == 1001
