"""Requests per second of the project page and the deploy history with 10,000 deploys, served by
gunicorn on 127.0.0.1, against a bare Django view (`bench.urls.bare`) served the same way in the
same run. Target: each page at least 30% of the bare view's rate.

The load generator (8 keep-alive threads, each a signed-in browser that sends back the cookies
the pages set) shares the 2 cores with gunicorn, as it does for the bare view: the ratio, not the
absolute rate, is the figure.
"""

from bench import common, server
from bench.common import Figure

DEPLOYS = 10_000
RUNS = 3
SECONDS = 4.0


def make_history():
    from django.utils import timezone

    from bench import fixtures
    from deploys.models import Deploy, State

    owner = fixtures.user()
    project = fixtures.project(owner)
    environments = [
        fixtures.environment(project, name=name, app_name=f"bench-{name}")
        for name in ("staging", "production")
    ]
    now = timezone.now()
    states = [State.SUCCEEDED] * 8 + [State.FAILED, State.CANCELED]
    Deploy.objects.bulk_create(
        Deploy(
            project=project,
            number=n,
            environment=environments[n % 2],
            environment_name=environments[n % 2].name,
            app_name=environments[n % 2].app_name,
            branch="main",
            sha=f"{n:040x}",
            state=states[n % len(states)],
            started_at=now,
            finished_at=now,
        )
        for n in range(1, DEPLOYS + 1)
    )
    return project


def main():
    project = make_history()
    cookie = server.session_cookie("alice")
    paths = {
        "bare": "/bench/bare/",
        "project": f"/projects/{project.slug}/",
        "history": f"/projects/{project.slug}/deploys/",
    }
    rates = {name: [] for name in paths}
    with server.gunicorn() as port:
        for path in paths.values():  # warm every worker and thread
            server.requests_per_second(port, cookie, path, seconds=1)
        for _ in range(RUNS):
            for name, path in paths.items():
                rate, errors = server.requests_per_second(port, cookie, path, SECONDS)
                if errors:
                    raise RuntimeError(f"{errors} failed requests on {path}")
                rates[name].append(rate)
    bare = common.median(rates["bare"])
    return [figure(name, rates[name], bare) for name in ("project", "history")]


def figure(name, rates, bare):
    rate = common.median(rates)
    label = {"project": "Project page", "history": "Deploy history"}[name]
    detail = (
        f"{rate:,.0f} req/s vs bare Django view {bare:,.0f} req/s; {DEPLOYS:,} deploys; "
        f"gunicorn gthread 2x8; medians of {RUNS} x {SECONDS:g} s"
    )
    return Figure(f"pages_rps_ratio_{name}", rate / bare, "ratio", ">=0.30", label, detail, rates)


if __name__ == "__main__":
    common.setup_django()
    common.run_main(main)
