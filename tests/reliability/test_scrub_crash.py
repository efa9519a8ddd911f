"""A log scrub whose work horse is killed with SIGKILL mid-way resumes where it stopped, on a
real worker: every chunk scrubbed exactly once, none skipped, the secret gone from all."""

import os
import signal
import time

import pytest

from deploys import scrub
from deploys.logformat import read_lines
from deploys.logwriter import CHUNK_LINES, LogWriter
from deploys.models import Deploy, State
from deploys.scrub_models import LogScrub, ScrubState
from tests.deploys.conftest import sim_env
from tests.deploys.test_queue import WORKER_ARGS, children, empty_queue, wait_for
from tests.heroku_sim.fixtures import APP
from tests.processes import start, stop

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
TOKEN = "tok-Canary-0123456789abcdef"
CHUNKS = 12


@pytest.fixture
def slow_worker(sim, redis_up):
    """A real rqworker whose scrubs rest 0.3 s between chunks (time to kill one mid-way)."""
    empty_queue()
    process = start(WORKER_ARGS, **sim_env(sim, LOG_SCRUB_PAUSE_SECONDS="0.3"))
    # Its scheduler forked (empty_queue freed the scheduler lock): the one child before a job.
    wait_for(lambda: children(process.pid), 30, "the worker's scheduler")
    time.sleep(0.5)
    yield process
    stop(process)


def test_a_scrub_killed_with_sigkill_resumes_after_its_last_chunk_done(environment, slow_worker):
    deploy = Deploy.objects.create(
        project=environment.project,
        number=1,
        environment=environment,
        environment_name=environment.name,
        app_name=APP,
        state=State.SUCCEEDED,
    )
    writer = LogWriter(deploy, [])
    writer.lines([f"line {n} key={TOKEN}" for n in range(CHUNKS * CHUNK_LINES)])
    writer.close()
    before = children(slow_worker.pid)  # its scheduler

    made = scrub.start(environment.project, None, "test", values=[TOKEN])

    def mid_way():
        made.refresh_from_db()
        return 2 <= made.chunks_done < CHUNKS - 4 and made.state == ScrubState.RUNNING

    wait_for(mid_way, 60, "the scrub to be half way")
    horses = children(slow_worker.pid) - before
    assert len(horses) == 1, horses
    os.kill(horses.pop(), signal.SIGKILL)
    made.refresh_from_db()
    killed_at = made.chunks_done
    assert killed_at < CHUNKS

    def finished():
        made.refresh_from_db()
        return made.is_finished

    wait_for(finished, 60, "the resumed scrub to finish")
    assert made.state == ScrubState.SUCCEEDED, made.problems
    # Each chunk counted once: nothing done twice after the kill, nothing skipped.
    assert (made.chunks_done, made.chunks_changed) == (CHUNKS, CHUNKS)
    stored = [line.text for line in read_lines(deploy, limit=CHUNKS * CHUNK_LINES)]
    assert len(stored) == CHUNKS * CHUNK_LINES
    assert all(text.endswith("key=[redacted]") for text in stored)
    assert LogScrub.objects.get().values == ""
    assert slow_worker.poll() is None  # the worker itself lived on
