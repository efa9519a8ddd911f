"""Seconds to serve the Metrics page (52 weeks, every environment) of a project with 100,000
deploys over a year, by gunicorn on 127.0.0.1: the median of sequential requests after a warm
one. The page's three grouped queries do the work in the database (deploys/metrics.py).
"""

from datetime import timedelta

from bench import common, server
from bench.common import Figure

DEPLOYS = 100_000
REQUESTS = 5


def generate_history(project, environments, count, now):
    """`count` deploys over the year before `now`: one in nine failed, one in 31 a rollback,
    one in 50 a hotfix, each with its commit time (the lead time's start)."""
    from django.db.models import F

    from deploys.models import Deploy, State, Trigger

    start, step = now - timedelta(days=365), timedelta(days=365) / count

    def deploy(n):
        environment = environments[n % len(environments)]
        finished = start + step * n
        return Deploy(
            project=project,
            number=n,
            environment=environment,
            environment_name=environment.name,
            app_name=environment.app_name,
            branch="hotfix-x" if n % 50 == 0 else "main",
            sha=f"{n:040x}",
            trigger=Trigger.ROLLBACK if n % 31 == 0 else Trigger.WEBHOOK,
            state=State.FAILED if n % 9 == 0 else State.SUCCEEDED,
            started_at=finished - timedelta(minutes=3),
            finished_at=finished,
            commit_at=finished - timedelta(hours=n % 48),
        )

    Deploy.objects.bulk_create((deploy(n) for n in range(1, count + 1)), batch_size=5000)
    Deploy.objects.filter(project=project).update(created_at=F("started_at"))


def main():
    from django.utils import timezone

    from bench import fixtures

    project = fixtures.project(fixtures.user())
    environments = [
        fixtures.environment(project, name=name, app_name=f"bench-{name}")
        for name in ("staging", "production")
    ]
    generate_history(project, environments, DEPLOYS, timezone.now())
    cookie = server.session_cookie("alice")
    path = f"/projects/{project.slug}/metrics/?weeks=52"
    with server.gunicorn() as port:
        browser = server.Browser(port, cookie)
        times = []
        for _ in range(REQUESTS + 1):
            status, body, seconds = browser.get(path)
            if status != 200 or b"Deployment frequency" not in body:
                raise RuntimeError(f"the Metrics page answered {status}")
            times.append(seconds)
    value = common.median(times[1:])
    detail = f"median of {REQUESTS} requests after a warm one; {DEPLOYS:,} deploys; SQLite"
    return [Figure("metrics_page_seconds_100k", value, "s", "", "Metrics page", detail, times)]


if __name__ == "__main__":
    common.setup_django()
    common.run_main(main)
