"""Deploys end to end: webhook or Deploy button -> real RQ workers -> git -> the Heroku simulator.

- deploy_overhead_ratio: a warm deploy (mirror cloned) of a repository of 2,000 files and 500
  commits, 20 new commits, from the signed webhook POST (to gunicorn) until the deploy succeeded,
  against the git work it cannot avoid done by hand in the same run: `git fetch` of those
  commits into a mirror plus `git push` of them to another app of the same simulator.
- build_api_overhead_ratio: the same warm deploy with the environment set to deploy with the
  Build API, against the same work done by hand in the same run: `git fetch` of the commits
  into a mirror, `git archive` of the head, POST /sources, PUT of the tarball, POST of the
  build and its output read to the end (the build finished).
- queue_pickup_p95_ms: request_deploy -> the first step started (DeployStep.started_at), one
  deploy at a time on an idle worker; baseline: a job that only returns the time it ran.
- scale_wall_ratio: 4 workers, 40 deploys over 10 apps queued at once; no two deploys of one app
  overlap; wall time against the best wall time possible: the larger of the per-app serial bound
  (max over apps of the sum of durations) and all the work shared by the workers that can run at
  once (sum of durations / min(workers, cores)).

`python -m bench.deploys overhead|build|pickup|scale`.
"""

import hashlib
import http.client
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

from bench import common, server, stack
from bench.common import Figure

FILES, COMMITS, NEW_COMMITS, OVERHEAD_RUNS = 2000, 500, 20, 11
PICKUPS = 50
APPS, PER_APP, WORKERS, SCALE_RUNS = 10, 4, 4, 3


# -- deploy overhead ---------------------------------------------------------------------------


def overhead():
    work = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    try:
        source = stack.bare_repo(work / "source.git", commits=COMMITS, files=FILES)
        with stack.simulator(["bench-deploy", "bench-by-hand"]) as sim:
            return measure_overhead(sim, source, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure_overhead(sim, source, work):
    stack.hold_redis()
    project, _ = stack.project_for(sim, "deploy", source, {"production": "bench-deploy"})
    endpoint = stack.webhook(project)
    by_hand = ByHand(sim, source, work / "by-hand.git", "bench-by-hand")
    mine, base = [], []
    with server.gunicorn() as port, stack.workers(1):
        head = stack.git("rev-parse", "main", cwd=source)
        webhook_deploy(port, endpoint, head)  # warm: the mirror is cloned, the app has history
        by_hand.push(head)
        for run in range(OVERHEAD_RUNS):
            head = stack.add_commits(source, COMMITS + run * NEW_COMMITS + 1, NEW_COMMITS)
            mine.append(webhook_deploy(port, endpoint, head))
            base.append(by_hand.push(head))
            common.say(f"   deploy {mine[-1]:.2f} s, by hand {base[-1]:.2f} s")
    ratio = common.median(mine) / common.median(base)
    detail = (
        f"webhook -> succeeded {common.median(mine):.2f} s vs git fetch + push by hand "
        f"{common.median(base):.2f} s; {FILES:,} files, {COMMITS} commits, +{NEW_COMMITS} per "
        f"deploy; medians of {OVERHEAD_RUNS}"
    )
    return [Figure("deploy_overhead_ratio", ratio, "ratio", "<=1.10", "Deploy overhead", detail)]


class ByHand:
    """The baseline: a mirror of the source fetched, then pushed to the simulator, by git."""

    def __init__(self, sim, source, path, app):
        stack.git("clone", "--quiet", "--mirror", str(source), str(path))
        url = urlsplit(sim.git_url)
        with_key = url._replace(netloc=f"heroku:{sim.api_key}@{url.netloc}")
        self.url = f"{with_key.geturl()}/{app}.git"
        self.path = path

    def push(self, sha) -> float:
        started = time.perf_counter()
        stack.git("fetch", "--quiet", "--prune", "origin", cwd=self.path)
        stack.git("push", "--quiet", self.url, f"{sha}:refs/heads/main", cwd=self.path)
        return time.perf_counter() - started


def webhook_deploy(port, endpoint, sha) -> float:
    """Seconds from the POST of a green build to the deploy's finished_at (it must succeed)."""
    from deploys.models import Deploy

    body, headers = stack.signed_delivery(sha)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    started = time.time()
    connection.request("POST", endpoint.get_absolute_url(), body=body, headers=headers)
    response = connection.getresponse()
    answer = json.loads(response.read())
    connection.close()
    if response.status != 202 or answer.get("deploy") is None:
        raise RuntimeError(f"webhook answered {response.status}: {answer}")
    deploy = Deploy.objects.get(project=endpoint.project, number=answer["deploy"])
    deploy = stack.wait_finished(deploy)
    return deploy.finished_at.timestamp() - started


# -- Build API deploy overhead -------------------------------------------------------------------


def build_api():
    work = Path(tempfile.mkdtemp(prefix="bench-build-"))
    try:
        source = stack.bare_repo(work / "source.git", commits=COMMITS, files=FILES)
        apps = ["bench-build", "bench-build-by-hand", "bench-build-git-by-hand"]
        with stack.simulator(apps) as sim:
            return measure_build_api(sim, source, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure_build_api(sim, source, work):
    from projects.models import DeployMethod

    stack.hold_redis()
    project, [env] = stack.project_for(sim, "build", source, {"production": "bench-build"})
    env.deploy_method = DeployMethod.BUILD_API
    env.save()
    endpoint = stack.webhook(project)
    by_hand = BuildByHand(sim, source, work / "by-hand.git", "bench-build-by-hand")
    pushed = ByHand(sim, source, work / "pushed-by-hand.git", "bench-build-git-by-hand")
    mine, base, git = [], [], []
    with server.gunicorn() as port, stack.workers(1):
        head = stack.git("rev-parse", "main", cwd=source)
        webhook_deploy(port, endpoint, head)  # warm: the mirror is cloned
        by_hand.build(head)
        pushed.push(head)
        for run in range(OVERHEAD_RUNS):
            head = stack.add_commits(source, COMMITS + run * NEW_COMMITS + 1, NEW_COMMITS)
            mine.append(webhook_deploy(port, endpoint, head))
            base.append(by_hand.build(head))
            git.append(pushed.push(head))
            common.say(
                f"   deploy {mine[-1]:.2f} s, build by hand {base[-1]:.2f} s, "
                f"git push by hand {git[-1]:.2f} s"
            )
    deploy, archive, push = common.median(mine), common.median(base), common.median(git)
    shared = f"{FILES:,} files, +{NEW_COMMITS} commits per deploy; medians of {OVERHEAD_RUNS}"
    return [
        Figure(
            "build_api_overhead_ratio",
            deploy / archive,
            "ratio",
            "<=1.10",
            "Build API deploy overhead",
            f"webhook -> succeeded with the Build API {deploy:.2f} s vs git fetch + git archive "
            f"+ upload + build by hand {archive:.2f} s; {shared}",
        ),
        Figure(
            "build_api_vs_git_push_ratio",
            deploy / push,
            "ratio",
            "",
            "Build API deploy vs git push by hand",
            f"webhook -> succeeded with the Build API {deploy:.2f} s vs git fetch + git push "
            f"by hand {push:.2f} s; {shared}",
        ),
    ]


class BuildByHand:
    """The baseline: a mirror fetched, `git archive` of the commit uploaded to the simulator's
    put URL, the build requested and its output read until it ends."""

    def __init__(self, sim, source, path, app):
        import requests

        stack.git("clone", "--quiet", "--mirror", str(source), str(path))
        self.sim, self.path, self.app = sim, path, app
        self.http = requests.Session()

    def build(self, sha) -> float:
        started = time.perf_counter()
        stack.git("fetch", "--quiet", "--prune", "origin", cwd=self.path)
        tarball = self.path.parent / "source.tar.gz"
        stack.git("archive", "--format=tar.gz", f"--output={tarball}", sha, cwd=self.path)
        data = tarball.read_bytes()
        blob = self.sim.api("POST", "/sources").json()["source_blob"]
        self.http.put(blob["put_url"], data=data, headers={"Content-Type": ""}).raise_for_status()
        checksum = "SHA256:" + hashlib.sha256(data).hexdigest()
        body = {"source_blob": {"url": blob["get_url"], "checksum": checksum, "version": sha}}
        build = self.sim.api("POST", f"/apps/{self.app}/builds", json=body).json()
        self.http.get(build["output_stream_url"]).raise_for_status()  # read to its end
        done = self.sim.api("GET", f"/apps/{self.app}/builds/{build['id']}").json()
        if done["status"] != "succeeded":
            raise RuntimeError(f"the build by hand ended {done['status']}")
        return time.perf_counter() - started


# -- queue pickup ------------------------------------------------------------------------------


def pickup():
    work = Path(tempfile.mkdtemp(prefix="bench-pickup-"))
    try:
        source = stack.bare_repo(work / "source.git")
        with stack.simulator(["bench-pickup"]) as sim:
            queue = stack.hold_redis()
            _, [environment] = stack.project_for(
                sim, "pickup", source, {"production": "bench-pickup"}
            )
            with stack.workers(1):
                base = [job_pickup(queue) for _ in range(PICKUPS)]
                mine = [deploy_pickup(environment) for _ in range(PICKUPS)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [pickup_figure(mine, base)]


def job_pickup(queue) -> float:
    started = time.time()
    job = queue.enqueue(stack.now)
    while job.get_status(refresh=True) != "finished":
        time.sleep(0.005)
    return (job.return_value() - started) * 1000


def deploy_pickup(environment) -> float:
    from deploys.services import request_deploy

    started = time.time()
    deploy = stack.wait_finished(request_deploy(environment, branch="main"))
    first = deploy.steps.order_by("position").first()
    return (first.started_at.timestamp() - started) * 1000


def pickup_figure(mine, base):
    detail = (
        f"request_deploy -> step 1 started: p50 {common.median(mine):.0f} ms, "
        f"p95 {common.p95(mine):.0f} ms over {PICKUPS} deploys, one worker; a bare RQ job: "
        f"p50 {common.median(base):.0f} ms, p95 {common.p95(base):.0f} ms "
        f"(p95 ratio {common.p95(mine) / common.p95(base):.1f})"
    )
    value = common.p95(mine)
    return Figure("queue_pickup_p95_ms", value, "ms", "<=200", "Queue pickup p95", detail, mine)


# -- scale -------------------------------------------------------------------------------------


def scale():
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    apps = [f"bench-scale-{n}" for n in range(APPS)]
    try:
        source = stack.bare_repo(work / "source.git")
        with stack.simulator(apps) as sim:
            stack.hold_redis()
            names = {f"{app}-{n}": app for n in range(PER_APP) for app in apps}
            _, environments = stack.project_for(sim, "scale", source, names)
            with stack.workers(WORKERS):
                runs = [scale_run(environments) for _ in range(SCALE_RUNS)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [scale_figure(runs)]


def scale_run(environments) -> dict:
    """All deploys queued at once; their wall time, per-app serial bound and total work."""
    from deploys.services import request_deploy

    started = time.time()
    deploys = [request_deploy(environment, branch="main") for environment in environments]
    deploys = [stack.wait_finished(deploy) for deploy in deploys]
    wall = max(d.finished_at.timestamp() for d in deploys) - started
    per_app = defaultdict(list)
    for deploy in deploys:
        per_app[deploy.app_name].append((deploy.started_at, deploy.finished_at))
    check_no_overlap(per_app)
    sums = [sum((end - start).total_seconds() for start, end in runs) for runs in per_app.values()]
    run = {"wall": wall, "bound": max(sums), "work": sum(sums)}
    common.say(f"   wall {wall:.1f} s, per-app serial bound {run['bound']:.1f} s")
    return run


def check_no_overlap(per_app):
    for app, runs in per_app.items():
        runs.sort()
        for (_, end), (start, _) in itertools.pairwise(runs):
            if start < end:
                raise RuntimeError(f"two deploys of {app} overlapped ({start} < {end})")


def scale_figure(runs):
    ratios = [run["wall"] / best_wall(run) for run in runs]
    middle = sorted(runs, key=lambda run: run["wall"] / best_wall(run))[len(runs) // 2]
    parallel = min(WORKERS, os.cpu_count() or 1)
    detail = (
        f"{APPS * PER_APP} deploys over {APPS} apps, {WORKERS} workers on {os.cpu_count()} cores: "
        f"no overlap per app; wall {middle['wall']:.1f} s; per-app serial bound "
        f"{middle['bound']:.1f} s; all work {middle['work']:.1f} s over {parallel} at once = "
        f"{middle['work'] / parallel:.1f} s; median of {SCALE_RUNS}"
    )
    return Figure(
        "scale_wall_ratio",
        common.median(ratios),
        "ratio",
        "<=1.5",
        "Scale wall/best",
        detail,
        ratios,
    )


def best_wall(run) -> float:
    """The shortest wall time the deploys allow: no app's deploys overlap, and no more run at
    once than there are workers, or cores to run them."""
    return max(run["bound"], run["work"] / min(WORKERS, os.cpu_count() or 1))


if __name__ == "__main__":
    common.setup_django()
    benchmarks = {"overhead": overhead, "build": build_api, "pickup": pickup, "scale": scale}
    common.run_main(benchmarks[sys.argv[1]])
