"""Live log streams at scale: VIEWERS server-sent-event streams of one running deploy, opened by
an async load client (httpx) over real connections, against the web process as the Procfile
runs it (gunicorn, 2 uvicorn workers) on 127.0.0.1.

- live_viewers_dashboard_ratio: the dashboard's (home page's) p95 while the viewers watch a
  deploy printing 20 lines every 100 ms, divided by its p95 with no viewer. Target <= 2.0.
- live_viewers_errors: viewers that did not receive every line, in order, none twice, and the
  end of the stream. Target 0.
- live_viewers_quiet_login_p95_ms: `/login/` p95 (signed out) while the viewers watch a silent
  deploy. Target <= 100.
- live_viewers_memory_mb: the web processes' resident memory with the streams open (reported).

`python -m bench.streams [viewers] [seconds]` (1000 viewers, 10 s of printing by default). The
load client shares the 2 cores with the server: the ratio, not the absolute figure, is the claim.
"""

import asyncio
import sys
import threading
import time

from bench import common, server
from bench.common import Figure

VIEWERS, SECONDS = 1000, 10.0
BATCH, PACE = 20, 0.1  # lines per write, seconds between writes
SAMPLES = 200  # dashboard requests per measurement


class Viewer:
    """What one stream received: its line numbers, in order, and whether it ended."""

    def __init__(self):
        self.last = 0  # the last line received
        self.gaps = 0  # events that did not begin right after the last line, or miscounted
        self.ended = False
        self.problem = ""
        self.open = asyncio.Event()

    def receive(self, event: bytes):
        """One event. A `lines` one must bring the next lines, each once. Cheaper than decoding
        its JSON (the load client shares the cores with the server): the first line's number,
        and as many lines as the numbers say ("], [" separates two; no bench line holds it)."""
        if event.startswith(b"id: "):
            head, _, data = event.partition(b"\nevent: lines\ndata: [[")
            last = int(head[4:])
            first = int(data[: data.index(b",")])
            if first != self.last + 1 or last - first + 1 != data.count(b"], [") + 1:
                self.gaps += 1
            self.last = last
        elif event.startswith(b"event: end"):
            self.ended = True


async def watch(client, path, viewer):
    try:
        async with client.stream("GET", path) as response:
            if response.status_code != 200:
                viewer.problem = f"status {response.status_code}"
                return
            viewer.open.set()
            buffer = b""
            async for chunk in response.aiter_raw():
                buffer += chunk
                *events, buffer = buffer.split(b"\n\n")
                for event in events:
                    viewer.receive(event)
                if viewer.ended:
                    return
    except Exception as error:  # every failure is counted, none stops the run
        viewer.problem = repr(error)
    finally:
        viewer.open.set()


class Crowd:
    """VIEWERS streams of one deploy, in an event loop of their own thread."""

    def __init__(self, port, cookie, path, count):
        self.port, self.cookie, self.path, self.count = port, cookie, path, count
        self.viewers = [Viewer() for _ in range(count)]
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.done = asyncio.run_coroutine_threadsafe(self._run(), self.loop)

    async def _run(self):
        import httpx

        limits = httpx.Limits(max_connections=self.count + 10, max_keepalive_connections=0)
        timeout = httpx.Timeout(60.0, read=120.0)
        name, value = self.cookie.split("=", 1)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.port}",
            cookies={name: value},
            limits=limits,
            timeout=timeout,
        ) as client:
            tasks = []
            for viewer in self.viewers:
                tasks.append(asyncio.create_task(watch(client, self.path, viewer)))
                await asyncio.sleep(0.002)  # a crowd arrives, it does not appear at once
            await asyncio.gather(*tasks)

    def wait_open(self, timeout=120):
        async def opened():
            await asyncio.gather(*(viewer.open.wait() for viewer in self.viewers))

        asyncio.run_coroutine_threadsafe(opened(), self.loop).result(timeout)

    def finish(self, timeout=120):
        try:
            self.done.result(timeout)
        finally:
            stopped = asyncio.run_coroutine_threadsafe(self.loop.shutdown_asyncgens(), self.loop)
            stopped.result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)


def p95_of(port, path, cookie="") -> float:
    browser = server.Browser(port, cookie)
    times = []
    for _ in range(SAMPLES):
        status, _, elapsed = browser.get(path)
        if status == 0:  # the server closed the kept-alive connection: once more, on a new one
            status, _, elapsed = browser.get(path)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}")
        times.append(elapsed * 1000)
        time.sleep(0.01)
    return common.p95(times)


def web_memory_mb(process) -> float:
    import psutil

    parent = psutil.Process(process.pid)
    workers = parent.children(recursive=True)
    return sum(p.memory_info().rss for p in [parent, *workers]) / 1e6


def finish_deploy(deploy, writer):
    from django.utils import timezone

    from deploys.models import Deploy, State

    writer.close()
    Deploy.objects.filter(pk=deploy.pk).update(state=State.SUCCEEDED, finished_at=timezone.now())


def main(viewers=VIEWERS, seconds=SECONDS):
    common.setup_django()
    from bench import fixtures, stack
    from deploys.logwriter import LogWriter

    stack.hold_redis()
    project = fixtures.project(fixtures.user())
    cookie = server.session_cookie("alice")
    busy = fixtures.running_deploy(fixtures.environment(project, app_name="bench-streams"))
    quiet = fixtures.running_deploy(fixtures.environment(project, "quiet", app_name="bench-quiet"))
    limits = {
        "LIVE_STREAMS_MAX_PER_USER": str(viewers * 2),
        "LIVE_STREAMS_MAX_PER_PROCESS": str(viewers * 2),
    }
    with server.asgi(limits) as (port, process):
        common.say(f"dashboard with no viewer ({SAMPLES} requests)")
        alone = p95_of(port, "/", cookie)
        login_alone = p95_of(port, "/login/")

        common.say(f"{viewers} viewers of a silent deploy")
        crowd = Crowd(port, cookie, stream_path(quiet), viewers)
        crowd.wait_open()
        memory = web_memory_mb(process)
        login = p95_of(port, "/login/")
        finish_deploy(quiet, LogWriter(quiet))
        crowd.finish()

        common.say(f"{viewers} viewers of a deploy printing {BATCH} lines every {PACE} s")
        writer = LogWriter(busy)
        crowd = Crowd(port, cookie, stream_path(busy), viewers)
        crowd.wait_open()
        written = write_while(writer, seconds, lambda: p95_of(port, "/", cookie))
        finish_deploy(busy, writer)
        crowd.finish()
    loaded, lines = written
    errors = [
        v for v in crowd.viewers if v.problem or not v.ended or v.gaps or v.last != len(lines)
    ]
    if errors:
        common.say(f"first error: {errors[0].problem or 'lines differ'}")
    ratio = loaded / alone
    detail = (
        f"{viewers} streams (httpx), {BATCH} lines every {PACE * 1000:.0f} ms for {seconds:g} s; "
        f"home page p95 {loaded:.1f} ms vs {alone:.1f} ms with no viewer; gunicorn, 2 uvicorn "
        "workers"
    )
    return [
        Figure(
            "live_viewers_dashboard_ratio", ratio, "x", "<=2.0", "Live viewers: dashboard",
            detail,
        ),
        Figure(
            "live_viewers_errors", len(errors), "viewers", "<=0", "Live viewers: errors",
            f"of {viewers}, each expected {len(lines):,} lines in order, none twice, then the end",
        ),
        Figure(
            "live_viewers_quiet_login_p95_ms", login, "ms", "<=100", "Live viewers: /login/ p95",
            f"{viewers} streams of a silent deploy open; {login_alone:.1f} ms with none",
        ),
        Figure(
            "live_viewers_memory_mb", memory, "MB", "", "Live viewers: web memory",
            f"resident memory of gunicorn and its 2 workers with {viewers} streams open",
        ),
    ]  # fmt: skip


def stream_path(deploy) -> str:
    return f"/projects/{deploy.project.slug}/deploys/{deploy.number}/log/stream"


def write_while(writer, seconds, measure):
    """Print BATCH lines every PACE s for `seconds` while `measure()` runs (from the first
    second on); (its value, the line numbers written)."""
    stop, count = threading.Event(), [0]

    def write():
        while not stop.is_set():
            writer.lines([f"building module {count[0] + i}" for i in range(BATCH)])
            count[0] += BATCH
            time.sleep(PACE)

    thread = threading.Thread(target=write)
    started = time.monotonic()
    thread.start()
    time.sleep(1)
    value = measure()
    time.sleep(max(0.0, seconds - (time.monotonic() - started)))
    stop.set()
    thread.join()
    return value, list(range(1, count[0] + 1))


if __name__ == "__main__":
    args = [float(a) for a in sys.argv[1:]]
    common.run_main(lambda: main(int(args[0]) if args else VIEWERS, *(args[1:2] or [SECONDS])))
