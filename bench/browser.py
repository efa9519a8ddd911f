"""The deploy log viewer in Debian's Chromium (Playwright) against the web process as the Procfile
runs it (gunicorn, uvicorn workers) on 127.0.0.1: the page follows a running deploy's log by its
stream of server-sent events.

- live_log_p95_ms: a line written by the deploy engine's LogWriter -> its element in the page
  of the running deploy (a MutationObserver stamps it), p50/p95 over 200 lines paced 30 ms
  apart; baseline: the page's own round trip to a bare Django view (fetch), the floor of any
  line delivery over HTTP.
- large_log_open_s / large_log_dom_nodes: a 200,000-line deploy page, from navigation start until
  the viewer is ready, line 1 is shown and the main thread is free (the next animation frame),
  and its element count; baseline: the same page of a 100-line deploy, opened the same way.

`python -m bench.browser live|large`.
"""

import sys
import time

from bench import common, server
from bench.common import Figure

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LIVE_LINES, LIVE_PACE, LIVE_RUNS = 200, 0.03, 3
LARGE_LINES, SMALL_LINES, OPEN_RUNS = 200_000, 100, 5

# Stamps (Date.now()) each log line element when it is added to the page.
WATCH_LINES = """() => {
  window.benchSeen = {};
  const stamp = (el) => {
    if (/^L\\d+$/.test(el.id) && !(el.id in window.benchSeen)) window.benchSeen[el.id] = Date.now();
  };
  new MutationObserver((records) => {
    const now = Date.now();
    for (const record of records) for (const node of record.addedNodes) {
      if (node.nodeType !== 1) continue;
      stamp(node);
      node.querySelectorAll('[id^="L"]').forEach(stamp);
    }
  }).observe(document.getElementById('log'), {childList: true, subtree: true});
}"""
ROUND_TRIP = """async () => {
  const started = performance.now();
  await (await fetch('/bench/bare/', {cache: 'no-store'})).text();
  return performance.now() - started;
}"""
NEXT_FRAME = """() => new Promise((done) =>
  requestAnimationFrame(() => setTimeout(() => done(performance.now()), 0)))"""


class Chromium:
    """Chromium signed in as alice on the web process at `port`."""

    def __init__(self, playwright, port):
        self.browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        self.base = f"http://127.0.0.1:{port}"
        self.cookie = server.session_cookie("alice").split("=", 1)[1]

    def open(self, path, wait_until="load"):
        context = self.browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies([{"name": "sessionid", "value": self.cookie, "url": self.base}])
        page = context.new_page()
        page.goto(self.base + path, wait_until=wait_until)
        return page

    def close(self):
        self.browser.close()


def with_chromium(measure):
    from playwright.sync_api import sync_playwright

    from bench import fixtures

    fixtures.user()
    with server.asgi() as (port, _), sync_playwright() as playwright:
        chromium = Chromium(playwright, port)
        try:
            return measure(chromium)
        finally:
            chromium.close()


# -- live log ----------------------------------------------------------------------------------


def live():
    return with_chromium(measure_live)


def measure_live(chromium):
    from bench import fixtures

    environment = fixtures.environment(fixtures.project(fixtures.user()), app_name="bench-live")
    runs = [live_run(chromium, environment) for _ in range(LIVE_RUNS)]
    p50s = [common.median(run) for run in runs]
    p95s = [common.p95(run) for run in runs]
    page = chromium.open("/bench/bare/")
    trips = [page.evaluate(ROUND_TRIP) for _ in range(30)]
    page.context.close()
    trip = common.median(trips)
    detail = (
        f"{LIVE_LINES} lines {LIVE_PACE * 1000:.0f} ms apart, LogWriter -> page: "
        f"p50 {common.median(p50s):.0f} ms, p95 {common.median(p95s):.0f} ms "
        f"({common.median(p95s) / trip:.0f}x the page's {trip:.1f} ms round trip to a bare view); "
        f"medians of {LIVE_RUNS} runs"
    )
    value = common.median(p95s)
    return [Figure("live_log_p95_ms", value, "ms", "<=100", "Live log p95", detail, p95s)]


def live_run(chromium, environment) -> list[float]:
    """Milliseconds from write to element, one per line."""
    from bench import fixtures
    from deploys.logwriter import LogWriter
    from deploys.models import Deploy, DeployStep, State, StepState

    deploy = fixtures.running_deploy(environment)
    DeployStep.objects.create(
        deploy=deploy, position=1, name="build", title="Build", state=StepState.RUNNING,
        started_at=deploy.started_at, first_line=1,
    )  # fmt: skip
    writer = LogWriter(deploy)
    writer.step = 1
    writer.write("starting")
    writer.flush()
    page = chromium.open(deploy.get_absolute_url())
    page.wait_for_selector("#log[data-ready='1'] #L1", state="attached")
    page.evaluate(WATCH_LINES)
    written = {}
    for n in range(2, LIVE_LINES + 2):
        written[f"L{n}"] = time.time() * 1000
        writer.write(f"live line {n}")
        time.sleep(LIVE_PACE)
    page.wait_for_function(f"() => 'L{LIVE_LINES + 1}' in window.benchSeen", timeout=30_000)
    seen = page.evaluate("() => window.benchSeen")
    writer.close()
    Deploy.objects.filter(pk=deploy.pk).update(state=State.SUCCEEDED)
    page.context.close()
    missing = [key for key in written if key not in seen]
    if missing:
        raise RuntimeError(f"{len(missing)} lines never appeared, first {missing[0]}")
    return [seen[key] - at for key, at in written.items()]


# -- large log ---------------------------------------------------------------------------------


def large():
    return with_chromium(measure_large)


def measure_large(chromium):
    from bench import fixtures

    environment = fixtures.environment(fixtures.project(fixtures.user()), app_name="bench-large")
    huge, small = log_deploy(environment, LARGE_LINES), log_deploy(environment, SMALL_LINES)
    opened = {huge: [], small: []}
    nodes = {}
    for _ in range(OPEN_RUNS):
        for deploy in (huge, small):
            seconds, nodes[deploy] = open_log(chromium, deploy)
            opened[deploy].append(seconds)
    large_s, small_s = common.median(opened[huge]), common.median(opened[small])
    detail = (
        f"{LARGE_LINES:,}-line deploy page ready in {large_s:.2f} s vs a {SMALL_LINES}-line "
        f"one in {small_s:.2f} s ({large_s / small_s:.1f}x); medians of {OPEN_RUNS}"
    )
    nodes_detail = (
        f"{nodes[huge]:,} elements vs {nodes[small]:,} for the {SMALL_LINES}-line page "
        f"({nodes[huge] / nodes[small]:.1f}x)"
    )
    return [
        Figure("large_log_open_s", large_s, "s", "", "Large log open", detail, opened[huge]),
        Figure("large_log_dom_nodes", nodes[huge], "nodes", "", "Large log DOM", nodes_detail),
    ]


def log_deploy(environment, lines, per_chunk=1000):
    """A succeeded deploy with one step of `lines` lines, stored as the writer stores them."""
    from bench import fixtures
    from deploys import logformat
    from deploys.models import Deploy, DeployStep, LogChunk, State, StepState

    deploy = fixtures.running_deploy(environment)
    DeployStep.objects.create(
        deploy=deploy, position=1, name="build", title="Build", state=StepState.SUCCEEDED,
        started_at=deploy.started_at, finished_at=deploy.started_at, first_line=1,
    )  # fmt: skip
    now = int(time.time() * 1000)
    LogChunk.objects.bulk_create(
        LogChunk(
            deploy=deploy,
            first_line=start,
            line_count=min(per_chunk, lines - start + 1),
            content="\n".join(
                logformat.encode(1, "o", now, f"building module {n} \x1b[32mok\x1b[0m")
                for n in range(start, min(start + per_chunk, lines + 1))
            ),
        )
        for start in range(1, lines + 1, per_chunk)
    )
    Deploy.objects.filter(pk=deploy.pk).update(
        state=State.SUCCEEDED, finished_at=deploy.started_at, line_count=lines
    )
    return deploy


def open_log(chromium, deploy) -> tuple[float, int]:
    """(seconds from navigation start to interactive, elements in the page)."""
    page = chromium.open(deploy.get_absolute_url(), wait_until="commit")
    page.wait_for_selector("#log[data-ready='1'] #L1", state="attached", timeout=60_000)
    interactive_ms = page.evaluate(NEXT_FRAME)
    nodes = page.evaluate("document.getElementsByTagName('*').length")
    page.context.close()
    return interactive_ms / 1000, nodes


if __name__ == "__main__":
    common.setup_django()
    common.run_main({"live": live, "large": large}[sys.argv[1]])
