"""Load: 50 simulated users for 2 minutes against gunicorn on 127.0.0.1, 20 of them watching the
live log of a running deploy (the page's own long-poll endpoint, cursor by cursor) while a writer
adds lines to it; the other 30 move between the home page (the dashboard), the project page and
the deploy history. Targets: 0 errors, dashboard p95 < 500 ms.

`python -m bench.load [seconds]` (120 by default).
"""

import json
import random
import sys
import threading
import time

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


def write_lines(writer, stop):
    n = 0
    while not stop.is_set():
        writer.lines([f"building module {n + i}" for i in range(20)])
        n += 20
        time.sleep(0.1)
    writer.close()
    return n


def watcher(port, cookie, log_path, stop, results):
    browser, after = server.Browser(port, cookie), 0
    while not stop.is_set():
        status, body, _ = browser.get(f"{log_path}?after={after}&wait=1&timeout=5")
        results["errors"] += status != 200
        lines = json.loads(body)["lines"] if status == 200 else []
        after = lines[-1][0] if lines else after


def visitor(port, cookie, stop, results):
    browser = server.Browser(port, cookie)
    while not stop.is_set():
        path = random.choice(PAGES)
        status, _, seconds = browser.get(path)
        results["errors"] += status != 200
        results.setdefault(path, []).append(seconds)
        time.sleep(random.uniform(0.5, 1.5))  # a person reading the page


def main(seconds=120.0):
    deploy, writer = make_running_deploy()
    cookie = server.session_cookie("alice")
    log_path = f"/projects/{deploy.project.slug}/deploys/{deploy.number}/log"
    stop, results = threading.Event(), {"errors": 0}
    with server.gunicorn() as port:
        threads = [threading.Thread(target=write_lines, args=(writer, stop))]
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
    dashboard = [s * 1000 for s in results["/"]]
    requests = sum(len(v) for k, v in results.items() if k != "errors")
    detail = (
        f"{USERS} users ({WATCHERS} on live logs) for {seconds:g} s; {requests} page views, "
        f"dashboard p50 {common.median(dashboard):.0f} ms"
    )
    return [
        Figure("load_errors", results["errors"], "errors", "<=0", "Load: errors", detail),
        Figure(
            "load_dashboard_p95_ms",
            common.p95(dashboard),
            "ms",
            "<=500",
            "Load: dashboard p95",
            detail,
        ),
    ]


if __name__ == "__main__":
    common.setup_django()
    common.run_main(lambda: main(float(sys.argv[1]) if len(sys.argv) > 1 else 120.0))
