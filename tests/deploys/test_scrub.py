"""Stored logs scrubbed when a secret changes: a replaced Heroku key, a config var added to the
redaction list, an encryption-key rotation each queue a job that rewrites every stored chunk of
the project with the writer's own redaction, resumably, and says what it could not do."""

import base64
import json
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.db import connection

from deploys import scrub
from deploys.logformat import read_lines
from deploys.logwriter import CHUNK_LINES, LogWriter
from deploys.models import Deploy, LogChunk, State
from deploys.scrub_models import LogScrub, ScrubState
from projects.models import Role
from tests.heroku_sim.fixtures import APP
from tests.projects.test_canary_setup import all_cells, assert_absent, encodings
from tests.projects.test_settings import form_data, options_url

pytestmark = pytest.mark.django_db(transaction=True)
SETUP = "/projects/foo-bar/heroku/setup/"
SETTINGS = "/projects/foo-bar/settings/"
TOKEN = "tok-Canary-0123456789abcdef"  # a config var value printed before it was secret


def new_deploy(environment, number):
    return Deploy.objects.create(
        project=environment.project,
        number=number,
        environment=environment,
        environment_name=environment.name,
        app_name=APP,
        state=State.SUCCEEDED,
    )


def write_log(deploy, lines, step=1):
    writer = LogWriter(deploy, [])  # the secret is not known yet: stored as printed
    writer.step = step
    writer.lines(lines)
    writer.close()


def leaky_lines(secret):
    """The forms the writer redacts: raw, inside Basic auth, URL-encoded, JSON-escaped, with an
    ANSI colour inside it, split over two lines."""
    basic = base64.b64encode(f"user:{secret}".encode()).decode()
    half = len(secret) // 2
    return [
        f"export KEY={secret}",
        f"Authorization: Basic {basic}",
        f"https://example.com/?k={quote(secret, safe='')}",
        json.dumps({"k": secret}),
        f"coloured {secret[:3]}\x1b[31m{secret[3:]}\x1b[0m end",
        f"split {secret[:half]}",
        f"{secret[half:]} rest",
        "an innocent line",
    ]


def texts(deploy):
    return [line.text for line in read_lines(deploy, limit=100_000)]


def shown(deploy) -> str:
    """What the viewer shows: hidden sequences removed, lines of a step end to end."""
    from deploys.logwriter import HIDDEN

    return HIDDEN.sub("", "".join(texts(deploy)))


def run_queued(queue):
    """Run the queued scrub jobs here, as a worker would; their arguments are ids only."""
    ran = []
    for job in queue.get_jobs():
        if job.func_name == scrub.RUN_SCRUB:
            assert len(job.args) == 1 and isinstance(job.args[0], int)
            ran.append(scrub.run_scrub(*job.args))
    queue.empty()
    return ran


@pytest.fixture
def logged_in(client_for, alice, project):
    from projects.models import Membership, Role

    Membership.objects.update_or_create(project=project, user=alice, defaults={"role": Role.ADMIN})
    return client_for(alice)


def test_replacing_the_heroku_key_scrubs_the_old_key_in_every_form(
    environment, sim, queue, logged_in
):
    old = sim.api_key
    deploy = new_deploy(environment, 1)
    write_log(deploy, leaky_lines(old))
    assert old in "".join(texts(deploy))

    response = logged_in.post(SETUP, {"api_key": sim.other_api_key})
    assert response.status_code == 302
    assert run_queued(queue) == ["done"]

    assert_absent({"old key": encodings(old)}, "\n".join(texts(deploy)), "the log")
    assert old[:12] not in shown(deploy) and old[-12:] not in shown(deploy)
    assert texts(deploy)[-1] == "an innocent line"
    assert "[redacted]" in texts(deploy)[0]
    done = LogScrub.objects.get()
    assert (done.state, done.values, done.chunks_done, done.chunks_changed) == (
        ScrubState.SUCCEEDED,
        "",
        1,
        1,
    )
    actions = list(environment.project.audit_events.values_list("action", flat=True))
    assert "logs.scrub_started" in actions and "logs.scrubbed" in actions
    # The canary sweep: the replaced key printed before is nowhere now, in any table.
    for table, cell in all_cells():
        assert_absent({"old key": encodings(old)}, cell, f"table {table}")


def test_adding_a_secret_config_var_scrubs_its_value_as_heroku_had_it(
    environment, sim, queue, logged_in
):
    sim.api("PATCH", f"/apps/{APP}/config-vars", json={"SECRET_TOKEN": TOKEN}).raise_for_status()
    first, second = new_deploy(environment, 1), new_deploy(environment, 2)
    write_log(first, leaky_lines(TOKEN))
    write_log(second, ["nothing secret here"] * 3)
    search = f"/projects/foo-bar/deploys/{first.number}/log/search"
    assert logged_in.get(search, {"q": TOKEN[:20]}).json()["total"] > 0

    response = logged_in.post(
        options_url(environment), form_data(environment, secret_config_vars="SECRET_TOKEN")
    )
    assert response.status_code == 302
    pending = LogScrub.objects.get()
    assert TOKEN not in pending.config_vars and pending.config_vars == {APP: ["SECRET_TOKEN"]}
    assert run_queued(queue) == ["done"]

    assert_absent({"token": encodings(TOKEN)}, "\n".join(texts(first)), "the log")
    assert texts(second) == ["nothing secret here"] * 3
    base = f"/projects/foo-bar/deploys/{first.number}/log"
    raw = logged_in.get(f"{base}.txt")
    raw = b"".join(raw.streaming_content) if raw.streaming else raw.content
    assert TOKEN.encode() not in raw and b"export KEY=[redacted]" in raw
    found = logged_in.get(f"{base}/search", {"q": TOKEN[:20]}).json()
    assert found["total"] == 0
    page = logged_in.get(SETTINGS).content.decode()
    assert "SECRET_TOKEN added to the config vars redacted from the logs of production" in page
    assert "2 of 2 log chunks read (100%), 1 changed" in page
    # The canary sweep: the value printed before it was secret is nowhere now, in any table.
    for table, cell in all_cells():
        assert_absent({"token": encodings(TOKEN)}, cell, f"table {table}")


def test_a_secret_straddling_two_chunks_is_cut_from_both(environment, sim):
    deploy = new_deploy(environment, 1)
    lines = ["filler"] * (CHUNK_LINES - 1) + [f"start {TOKEN[:10]}", f"{TOKEN[10:]} end"]
    write_log(deploy, lines)
    assert LogChunk.objects.filter(deploy=deploy).count() == 2
    made = scrub.start(environment.project, None, "test", values=[TOKEN])
    scrub.run_scrub(made.pk)
    stored = texts(deploy)
    assert stored[CHUNK_LINES - 1] == "start [redacted]"
    assert stored[CHUNK_LINES] == "[redacted] end"


def test_a_chunk_it_cannot_decode_is_named_and_left_as_it_is(environment, sim, logged_in):
    good, bad = new_deploy(environment, 1), new_deploy(environment, 2)
    write_log(good, leaky_lines(TOKEN))
    write_log(bad, [f"key {TOKEN}"])
    broken = f"not a log line {TOKEN}"
    LogChunk.objects.filter(deploy=bad).update(content=broken)

    made = scrub.start(environment.project, None, "test", values=[TOKEN])
    scrub.run_scrub(made.pk)

    made.refresh_from_db()
    assert made.state == ScrubState.FAILED
    assert made.chunks_done == 2 and made.chunks_changed == 1
    assert LogChunk.objects.get(deploy=bad).content == broken  # nothing half-changed
    assert TOKEN not in "".join(texts(good))
    assert made.problems == [
        "Deploy #2, lines 1-1, is not in herokucd's log format and could not be read: left as "
        "it is (it may still hold the secret)."
    ]
    assert TOKEN not in json.dumps(made.problems)
    page = logged_in.get(SETTINGS).content.decode()
    assert "Done with problems" in page and "Deploy #2, lines 1-1, is not in" in page


def test_the_values_are_stored_only_as_ciphertext_and_emptied_at_the_end(environment, sim):
    made = scrub.start(environment.project, None, "test", values=[TOKEN])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {LogScrub._meta.db_table}")  # noqa: S608
        row = " ".join(map(str, cursor.fetchone()))
    assert_absent({"token": encodings(TOKEN)}, row, "the scrub's row")
    scrub.run_scrub(made.pk)
    made.refresh_from_db()
    assert made.values == ""


def test_a_rotation_of_the_encryption_keys_scrubs_every_project_with_logs(
    environment, sim, queue, settings
):
    from cryptography.fernet import Fernet

    deploy = new_deploy(environment, 1)
    write_log(deploy, [f"key {sim.api_key}"])
    settings.FIELD_ENCRYPTION_KEYS = [
        Fernet.generate_key().decode(),
        *settings.FIELD_ENCRYPTION_KEYS,
    ]
    call_command("rotate_encryption_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert run_queued(queue) == ["done"]
    assert texts(deploy) == ["key [redacted]"]
    assert LogScrub.objects.get().reason == "The encryption keys were rotated"


def test_a_scrub_resumes_after_its_last_chunk_done(environment, sim):
    deploy = new_deploy(environment, 1)
    write_log(deploy, [f"key {TOKEN}"] * (CHUNK_LINES * 3))
    made = scrub.start(environment.project, None, "test", values=[TOKEN])
    chunks = list(LogChunk.objects.filter(deploy=deploy).order_by("pk"))
    # As if a run died after the first chunk: that one done, the scrub still running.
    LogChunk.objects.filter(pk=chunks[0].pk).update(content="1\to\t0\tdone before")
    LogScrub.objects.filter(pk=made.pk).update(
        state=ScrubState.RUNNING, last_chunk=chunks[0].pk, chunks_done=1
    )
    scrub.run_scrub(made.pk)
    made.refresh_from_db()
    assert (made.chunks_done, made.chunks_changed) == (3, 2)
    assert texts(deploy)[0] == "done before"
    assert TOKEN not in "".join(texts(deploy))


def test_config_vars_heroku_will_not_give_change_nothing_and_say_why(environment, sim):
    deploy = new_deploy(environment, 1)
    write_log(deploy, [f"token {TOKEN}"])
    sim.fault("GET /apps/{app}/config-vars", status=403, message="You do not have access.")
    made = scrub.start(environment.project, None, "test", config_vars={APP: ["SECRET_TOKEN"]})
    assert scrub.run_scrub(made.pk) == "no secrets"
    made.refresh_from_db()
    assert made.state == ScrubState.FAILED and made.chunks_done == 0
    assert made.problems == [
        "Heroku could not be asked for the config vars to redact: You do not have access."
    ]
    assert texts(deploy) == [f"token {TOKEN}"]  # nothing changed that it could not finish


def test_an_admin_scrubs_again_with_the_secrets_as_they_are_now(
    environment, sim, queue, logged_in, client_for, bob_as, charlie
):
    sim.api("PATCH", f"/apps/{APP}/config-vars", json={"SECRET_TOKEN": TOKEN}).raise_for_status()
    environment.secret_config_vars = "SECRET_TOKEN"
    environment.save()
    deploy = new_deploy(environment, 1)
    write_log(deploy, [f"token {TOKEN}"])
    LogScrub.objects.create(project=environment.project, reason="earlier", state=ScrubState.FAILED)
    url = "/projects/foo-bar/log-scrubs/"
    assert "Scrub the stored logs again" in logged_in.get(SETTINGS).content.decode()
    assert logged_in.post(url)["Location"] == f"{SETTINGS}#log-scrubs"
    assert run_queued(queue) == ["done"]
    assert texts(deploy) == ["token [redacted]"]
    assert LogScrub.objects.first().requested_by.username == "alice"
    viewer = client_for(bob_as(Role.VIEWER))  # signs the test client in as bob
    assert viewer.post(url).status_code == 403
    assert "Scrub the stored logs again" not in viewer.get(SETTINGS).content.decode()
    assert client_for(charlie).post(url).status_code == 404
    assert LogScrub.objects.count() == 2


def test_a_scrub_nothing_moved_for_minutes_is_queued_again(environment, sim, queue):
    from datetime import timedelta

    from django.utils import timezone

    made = scrub.start(environment.project, None, "test", values=[TOKEN])
    fresh = scrub.start(environment.project, None, "fresh", values=[TOKEN])
    queue.empty()
    long_ago = timezone.now() - timedelta(seconds=scrub.STALE_SECONDS + 1)
    LogScrub.objects.filter(pk=made.pk).update(state=ScrubState.RUNNING, updated_at=long_ago)
    assert scrub.requeue_stalled() == [made.pk]
    assert [job.args for job in queue.get_jobs()] == [(made.pk,)]
    assert scrub.requeue_stalled() == []  # marked moved: not queued again at each maintenance
    assert fresh.pk != made.pk
