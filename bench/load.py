"""Load: 50 simulated users for 2 minutes against gunicorn on 127.0.0.1, 20 of them watching the
live log of a running deploy (the page's own long-poll endpoint, cursor by cursor) while a writer
adds lines to it; the other 30 move between the home page (the dashboard), the project page and
the deploy history. Targets: 0 errors, dashboard p95 < 500 ms.

A watcher asks as the deploy page does (static/js/log.js). The server holds only so many long
polls waiting at once (deploys/waitslots.py: LOG_WAIT_MAX_PER_USER per user and process, and the
watchers are all one user): one it may not hold now is answered 429 with Retry-After, and the
page asks again after that many seconds. Those answers are counted apart
(`load_live_waits_refused`); an error is any other answer that is not a 200 with the log's JSON
in it: a 5xx or other 4xx, a connection error, a body that is not a live-log answer.

`python -m bench.load [seconds]` (120 by default).
"""

import json
import random
import sys
import threading
import time
from collections import Counter

from bench import common, server
from bench.common import Figure

USERS, WATCHERS = 50, 20
PAGES = ["/", "/projects/bench/", "/projects/bench/deploys/"]


def make_running_deploy():
    from bench import fixtures
    from deploys.logwriter import LogWriter

    project = fixtures.project(fixtures.user())
    deploy = fixtures.running_deploy(fixtures.environment(project, app_name="bench-load"))
    return deploy, LogWriter(deploy)


def write_lines(writer, stop, results):
    n = 0
    while not stop.is_set():
        writer.lines([f"building module {n + i}" for i in range(20)])
        n += 20
        time.sleep(0.1)
    writer.close()
    results["written"] = n


def watcher(port, cookie, log_path, stop, results):
    browser, after = server.Browser(port, cookie), 0
    while not stop.is_set():
        status, body, _ = browser.get(f"{log_path}?after={after}&wait=1&timeout=5")
        if status == 429:
            results["refused"] += 1
            stop.wait(retry_after(browser.headers))
            continue
        lines = log_lines(body) if status == 200 else None
        if lines is None:
            results["errors"][error_kind(status, "live log")] += 1
            continue
        after = lines[-1][0] if lines else after
    results["reached"].append(after)


def error_kind(status, what) -> str:
    if status == 0:
        return f"{what}: connection error"
    return f"{what}: {status}" if status != 200 else f"{what}: 200 not a live-log answer"


def retry_after(headers, default=2.0) -> float:
    """The seconds the server asked to wait, as log.js reads them; `default` without any."""
    try:
        return max(0.0, float(headers["Retry-After"]))
    except (TypeError, ValueError):
        return default


def log_lines(body) -> list | None:
    """The lines of a live-log answer, or None when the body is not one."""
    try:
        lines = json.loads(body)["lines"]
    except (ValueError, TypeError, KeyError):
        return None
    return lines if isinstance(lines, list) else None


def visitor(port, cookie, stop, results):
    browser = server.Browser(port, cookie)
    while not stop.is_set():
        path = random.choice(PAGES)
        status, _, seconds = browser.get(path)
        if status != 200:
            results["errors"][error_kind(status, path)] += 1
        results[path].append(seconds)
        time.sleep(random.uniform(0.5, 1.5))  # a person reading the page


def main(seconds=120.0):
    deploy, writer = make_running_deploy()
    cookie = server.session_cookie("alice")
    log_path = f"/projects/{deploy.project.slug}/deploys/{deploy.number}/log"
    stop = threading.Event()
    results = {"errors": Counter(), "refused": 0, "reached": [], **{path: [] for path in PAGES}}
    with server.gunicorn() as port:
        threads = [threading.Thread(target=write_lines, args=(writer, stop, results))]
        threads += [
            threading.Thread(target=watcher, args=(port, cookie, log_path, stop, results))
            for _ in range(WATCHERS)
        ]
        threads += [
            threading.Thread(target=visitor, args=(port, cookie, stop, results))
            for _ in range(USERS - WATCHERS)
        ]
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join(60)
    return figures(results, seconds)


def figures(results, seconds):
    dashboard = [s * 1000 for s in results["/"]]
    requests = sum(len(results[path]) for path in PAGES)
    detail = (
        f"{USERS} users ({WATCHERS} on live logs) for {seconds:g} s; {requests} page views, "
        f"dashboard p50 {common.median(dashboard):.0f} ms"
    )
    errors = results["errors"]
    kinds = "; ".join(f"{kind} x{count}" for kind, count in errors.most_common())
    followed = (
        f"{WATCHERS} live-log viewers, one user; asked again after Retry-After as the page does; "
        f"{results.get('written', 0):,} lines written, the slowest viewer reached line "
        f"{min(results['reached'], default=0):,}"
    )
    return [
        Figure(
            "load_errors",
            errors.total(),
            "errors",
            "<=0",
            "Load: errors",
            f"{detail}; {kinds}" if kinds else detail,
        ),
        Figure(
            "load_dashboard_p95_ms",
            common.p95(dashboard),
            "ms",
            "<=500",
            "Load: dashboard p95",
            detail,
        ),
        Figure(
            "load_live_waits_refused",
            results["refused"],
            "answers",
            "",
            "Load: live-log waits refused (429)",
            followed,
        ),
    ]


if __name__ == "__main__":
    common.setup_django()
    common.run_main(lambda: main(float(sys.argv[1]) if len(sys.argv) > 1 else 120.0))
