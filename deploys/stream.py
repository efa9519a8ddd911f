"""A deploy's live log as server-sent events: the only async view of the dashboard.

1. The stream opens like the page: signed in, a member of the project, else 404. It starts after
   the cursor the page has (`?after=`), or after `Last-Event-ID` when the browser resumes a
   stream (a malformed one starts from the first line). Counted per process and per user
   (settings.LIVE_STREAMS_MAX_*): past either, 429 with a sentence, and the page long-polls.
2. Each `lines` event carries the number of its last line as its `id`, so a resumed stream goes
   on with the next line: no gap, none twice. A `state` event carries the header (state, steps,
   version) when it changes; the stream ends with the finished deploy's state and an `end`
   event. A comment every HEARTBEAT_SECONDS keeps proxies and Heroku's router from closing it.
3. The viewers of one deploy in one process share a `Watch`: one Redis subscription to the log
   writer's announcements of stored chunks (deploys/announce.py), each chunk read once from the
   database, recent lines kept for the viewers (at most BUFFER_LINES). Without Redis the watch
   looks at the database every TICK_SECONDS instead; with it, every HEADER_SECONDS for the header.
4. A viewer that falls behind the watch's lines (it does not read) is dropped rather than
   buffered for: it resumes from the database when it reconnects. Every
   LIVE_STREAM_ACCESS_SECONDS the stream checks its viewer is still signed in and a member;
   after LIVE_STREAM_MAX_SECONDS it ends and the browser resumes it, checked again.
5. Under a WSGI server (tests' live server, someone running herokucd.wsgi) a stream would hold a
   thread and be sent only once it ends: it answers what is there and closes instead, and the
   page does not open one (it long-polls the cursor API).
"""

import asyncio
import contextlib
import json
import logging
import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from importlib import import_module

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.decorators import login_required
from django.core.handlers.asgi import ASGIRequest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, connection, connections
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from deploys.announce import channel
from deploys.logformat import MAX_LINE_NUMBER, read_lines
from deploys.models import Deploy
from projects.access import get_project_for_user
from projects.models import Membership

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 15.0  # Heroku's router cuts a response silent for 55 s (docs/heroku.md §10)
TICK_SECONDS = 0.1  # without Redis: how often a watch looks for new lines
HEADER_SECONDS = 0.5  # how often a watch looks at the deploy's header
BUFFER_LINES = 5000  # recent lines a watch keeps for its viewers
BATCHES_KEPT = 100  # recent batches a watch keeps encoded
READ_LIMIT = 2000  # lines read from the database at once
RETRY_MS = 1000  # how soon the browser resumes a stream that ended
CURSOR = re.compile(r"[0-9]{1,10}")
BUSY = "Too many live log streams are open; the page follows the log by asking instead."

_open: Counter = Counter()  # user id -> streams open in this process
_verdicts: dict = {}  # (session key, user id, project id) -> (when checked, allowed)
VERDICTS_KEPT = 10_000


class Watch:
    """The viewers of one deploy in this process: its new lines and header, read once for all."""

    def __init__(self, deploy: Deploy, header: dict):
        self.deploy = deploy
        self.header = header
        self.lines: list = []  # the most recent lines read, ascending, at most BUFFER_LINES
        # Each batch read, encoded once for every viewer it finds where it begins:
        # {first line: (last line, event)}, the newest BATCHES_KEPT.
        self.batches: dict[int, tuple[int, bytes]] = {}
        self.last = deploy.line_count  # the last line number read or known to be stored
        self.viewers = 0
        self.finished = deploy.is_finished
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None

    def batch_after(self, cursor: int) -> tuple[int, bytes] | None:
        """(last line, event) of the batch read that begins right after `cursor`, if kept."""
        return self.batches.get(cursor + 1)

    def lines_after(self, cursor: int):
        """The kept lines after `cursor`; None when some of them are no longer kept."""
        if cursor >= self.last:
            return []
        if not self.lines or self.lines[0].number > cursor + 1:
            return None
        start = cursor + 1 - self.lines[0].number
        return self.lines[start : start + READ_LIMIT]

    def waiter(self) -> asyncio.Event:
        """Set at the next change (taken before looking, so no change is missed)."""
        return self._changed

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def start(self) -> None:
        if self._task is None and not self.finished:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        pubsub = await _subscribe(self.deploy.pk)
        header_at = 0.0
        try:
            while self.viewers and not self.finished:
                announced, rewritten = await _announcement(
                    pubsub, TICK_SECONDS if pubsub is None else 1.0
                )
                if rewritten:
                    self.forget()
                look = time.monotonic() - header_at >= HEADER_SECONDS
                if announced or look or pubsub is None:
                    header_at = time.monotonic() if look else header_at
                    await self._read(header=look)
        except Exception:
            log.exception("Watching deploy %s stopped", self.deploy.pk)
        finally:
            _watches.pop(self.deploy.pk, None)
            self.finished = True  # its viewers end; the browser resumes them with a new watch
            self._notify()
            if pubsub is not None:
                await _close(pubsub)

    def forget(self) -> None:
        """Lines already read were rewritten in the database (a secret cut out of them): none
        of them is served from here again. Viewers behind are served from the database; one
        that relied on the watch is dropped and resumes from the database."""
        self.lines, self.batches = [], {}

    async def _read(self, header: bool) -> None:
        lines, state = await in_db_thread(_read)(self.deploy, self.last, header)
        if lines:
            self.lines = (self.lines + lines)[-BUFFER_LINES:]
            self.last = lines[-1].number
            for start in range(0, len(lines), READ_LIMIT):
                batch = lines[start : start + READ_LIMIT]
                self.batches[batch[0].number] = (batch[-1].number, _lines_event(batch))
            while len(self.batches) > BATCHES_KEPT:
                del self.batches[next(iter(self.batches))]
        if state is not None and state != self.header:
            self.header = state
            self.finished = state["finished"] and self.last >= self.deploy.line_count
        if lines or state is not None:
            self._notify()


_watches: dict[int, Watch] = {}

# The streams' database work runs in these threads, each with its own connection kept open
# (CONN_MAX_AGE): a bounded number, whatever the number of viewers.
DB_THREADS = 4
_db_threads = ThreadPoolExecutor(DB_THREADS, thread_name_prefix="live-log-db")


def in_db_thread(function):
    def run(*args):
        try:
            return function(*args)
        except DatabaseError:
            connection.close()  # a broken connection is not kept for the next read
            raise

    return sync_to_async(run, thread_sensitive=False, executor=_db_threads)


def release_connections() -> None:
    """Close every stream thread's database connection (before a test database is dropped):
    each thread takes one task, held at the barrier until all are taken."""
    barrier = threading.Barrier(DB_THREADS)

    def close():
        barrier.wait(10)
        connections.close_all()

    for future in [_db_threads.submit(close) for _ in range(DB_THREADS)]:
        future.result(15)


def _read(deploy, after, header):
    """New lines of the deploy (all of them, by READ_LIMIT) and, with `header`, its header."""
    state = None
    if header:
        deploy.refresh_from_db()
        state = header_of(deploy)
    lines, batch = [], read_lines(deploy, after, READ_LIMIT)
    while batch:
        lines += batch
        batch = read_lines(deploy, batch[-1].number, READ_LIMIT) if len(batch) == READ_LIMIT else []
    return lines, state


def header_of(deploy) -> dict:
    from deploys.views import _log_state, header_version

    steps = list(deploy.steps.all())
    state = _log_state(deploy, steps)
    state["version"] = header_version(deploy, steps)
    return state


async def _subscribe(deploy_id):
    """A pub/sub subscribed to the deploy's announcements; None when Redis cannot be reached."""
    try:
        client = aioredis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=1
        )
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(channel(deploy_id))
        return pubsub
    except (aioredis.RedisError, OSError) as error:
        log.info("Live log of deploy %s polls the database: %s", deploy_id, error)
        return None


async def _announcement(pubsub, timeout) -> tuple[bool, bool]:
    """Whether a chunk was announced within `timeout` (without Redis: waits it out, False), and
    whether lines stored before were rewritten (a third number in an announcement)."""
    if pubsub is None:
        await asyncio.sleep(timeout)
        return False, False
    message = await pubsub.get_message(timeout=timeout)
    rewritten = False
    while message is not None:
        data = message.get("data")
        rewritten = rewritten or (isinstance(data, bytes) and data.count(b" ") >= 2)
        message = await pubsub.get_message(timeout=0)  # several announced: one read takes all
        if message is None:
            return True, rewritten
    return False, False


async def _close(pubsub):
    try:
        await pubsub.aclose()
        await pubsub.connection_pool.disconnect()
    except (aioredis.RedisError, OSError):
        pass


async def _wait(event: asyncio.Event, timeout: float) -> None:
    # asyncio.timeout, not wait_for: no task of its own for each of a thousand viewers' waits.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()


# The view ------------------------------------------------------------------------------------


def cursor_of(request) -> int:
    """Where the stream starts: after `Last-Event-ID` when the browser resumes (malformed: from
    the first line), else after `?after=` (malformed: from the first line)."""
    raw = request.headers.get("Last-Event-ID")
    if raw is None:
        raw = request.GET.get("after", "0")
    if not CURSOR.fullmatch(raw):
        return 0
    return min(int(raw), MAX_LINE_NUMBER)


def _open_for(request, slug, number):
    """The deploy, its header and the session's facts, or Http404 as the page would answer."""
    project, _ = get_project_for_user(request, slug)
    deploy = get_object_or_404(Deploy, project=project, number=number)
    deploy.project = project
    header = header_of(deploy)
    # This request's thread holds its connection while the stream is open: give it back now.
    connection.close()
    return deploy, header


def still_allowed(session_key, user_id, project_id) -> bool:
    """The stream's viewer is still signed in with this session, active, and a member."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    if str(store.load().get(SESSION_KEY)) != str(user_id):
        return False
    return Membership.objects.filter(
        project_id=project_id, user_id=user_id, user__is_active=True
    ).exists()


@login_required
@require_GET
async def deploy_stream(request, slug, number):
    user = await request.auser()
    deploy, header = await sync_to_async(_open_for)(request, slug, number)
    if _open.total() >= settings.LIVE_STREAMS_MAX_PER_PROCESS or (
        _open[user.pk] >= settings.LIVE_STREAMS_MAX_PER_USER
    ):
        response = HttpResponse(BUSY, status=429, content_type="text/plain")
        response["Retry-After"] = "10"
        return response
    live = isinstance(request, ASGIRequest)
    viewer = Viewer(request.session.session_key, user.pk, deploy, header, cursor_of(request), live)
    if not live:
        # A WSGI server would hold a thread for the stream and send it only once it ends: it
        # answers what is there now and closes; the browser asks again after `retry`.
        events = b"".join([event async for event in viewer.events()])
        return HttpResponse(events, content_type="text/event-stream")
    response = StreamingHttpResponse(viewer.events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


class Viewer:
    """One open stream: where it is in the log, what it has sent of the header."""

    def __init__(self, session_key, user_id, deploy, header, cursor, live=True):
        self.session_key, self.user_id, self.live = session_key, user_id, live
        self.deploy, self.cursor = deploy, cursor
        self.header = header
        self.sent_version = None
        _open[user_id] += 1

    async def events(self):
        watch = None
        try:
            yield f"retry: {RETRY_MS}\n\n".encode()
            if self.live and not self.deploy.is_finished:
                watch = _watch_for(self.deploy, self.header)
                watch.viewers += 1
                watch.start()
            async for event in self._follow(watch):
                yield event
        finally:
            if watch is not None:
                watch.viewers -= 1
            _open[self.user_id] -= 1
            if not _open[self.user_id]:
                del _open[self.user_id]

    async def _follow(self, watch):
        started = checked = beat = time.monotonic()
        caught_up = False  # served from the watch's lines once: from then on, it must keep up
        while True:
            changed = watch.waiter() if watch is not None else None
            batch = watch.batch_after(self.cursor) if watch is not None else None
            if batch is not None:  # the common case: encoded once for all
                self.cursor, event = batch
                caught_up = True
                yield event
                beat = time.monotonic()
                continue
            kept = watch.lines_after(self.cursor) if watch is not None else None
            if kept is None and caught_up:
                return  # it read slower than the deploy printed: dropped, it resumes
            caught_up = caught_up or kept is not None
            lines = kept if kept is not None else await self._read()
            if lines:
                self.cursor = lines[-1].number
                yield _lines_event(lines)
                beat = time.monotonic()
                continue
            header = watch.header if watch is not None else self.header
            if header["version"] != self.sent_version:
                self.sent_version = header["version"]
                yield _event("state", header)
            if watch is None or (watch.finished and self.cursor >= watch.last):
                if header["finished"]:
                    yield _event("end", {"state": header["state"]})
                return
            now = time.monotonic()
            if now - started >= settings.LIVE_STREAM_MAX_SECONDS:
                return  # the browser resumes it: access checked again, processes balanced
            if now - checked >= settings.LIVE_STREAM_ACCESS_SECONDS:
                checked = now
                if not await self._allowed():
                    yield _event("denied", {"message": "You can no longer see this deploy."})
                    return
            if now - beat >= HEARTBEAT_SECONDS:
                beat = now
                yield b": heartbeat\n\n"
            await _wait(changed, min(HEARTBEAT_SECONDS, settings.LIVE_STREAM_ACCESS_SECONDS))

    async def _read(self):
        """Lines after the cursor from the database: catching up, or a finished deploy."""

        def read():
            return read_lines(self.deploy, self.cursor, READ_LIMIT)

        return await in_db_thread(read)()

    async def _allowed(self) -> bool:
        """Whether the viewer may still see the deploy: read once per check interval for all
        streams of this process with the same session and project."""
        key = (self.session_key, self.user_id, self.deploy.project_id)
        now = time.monotonic()
        known = _verdicts.get(key)
        if known is None or now - known[0] >= settings.LIVE_STREAM_ACCESS_SECONDS:
            allowed = await in_db_thread(still_allowed)(*key)
            if len(_verdicts) >= VERDICTS_KEPT:
                _verdicts.clear()
            known = _verdicts[key] = (now, allowed)
        return known[1]


def _watch_for(deploy, header) -> Watch:
    watch = _watches.get(deploy.pk)
    if watch is None or watch.finished:
        watch = _watches[deploy.pk] = Watch(deploy, header)
    return watch


def _lines_event(lines) -> bytes:
    data = json.dumps([[ln.number, ln.step, ln.stream, ln.time_ms, ln.text] for ln in lines])
    return f"id: {lines[-1].number}\nevent: lines\ndata: {data}\n\n".encode()


def _event(name, data) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, cls=DjangoJSONEncoder)}\n\n".encode()
