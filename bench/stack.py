"""The whole deploy path as it runs in production, for the deploy benchmarks: the Heroku
simulator over real HTTP, real `manage.py rqworker` processes, gunicorn for webhooks, real git
repositories, and the rows a project needs to deploy (credential, environments, webhook)."""

import contextlib
import hashlib
import hmac
import json
import os
import signal
import subprocess
import time
import uuid

from bench.common import ROOT

WEBHOOK_SECRET = "bench webhook signing secret"  # noqa: S105
NO_LIMIT = 1_000_000  # the git rate limit is measured by the reliability suite, not here
IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def sim_state(apps):
    return {
        "accounts": [{"email": "deployer@example.com", "api_key": f"HRKU-{uuid.uuid4()}"}],
        "apps": [
            {"name": name, "owner": "deployer@example.com", "formation": {"web": 1}}
            for name in apps
        ],
        "git_rate_limit": {"requests": NO_LIMIT},
    }


@contextlib.contextmanager
def simulator(apps):
    """The simulator with `apps`; herokucd processes started after this point use it."""
    from tests.heroku_sim.fixtures import start_heroku_sim

    with start_heroku_sim(sim_state(apps)) as sim:
        os.environ.update(
            HEROKU_API_URL=sim.api_url,
            HEROKU_DATA_API_URL=sim.api_url,
            HEROKU_GIT_URL=sim.git_url,
            HEROKU_RENDEZVOUS_CA=sim.ca_path,
            HEROKU_GIT_RATE_LIMIT=str(NO_LIMIT),
        )
        yield sim


def hold_redis():
    """Start the embedded Redis (when no REDIS_URL) and keep it up while this process lives."""
    import django_rq
    from django.conf import settings

    if settings.EMBEDDED_REDIS:
        from herokucd.embedded_redis import ensure_running

        ensure_running(settings.DATA_DIR)
    queue = django_rq.get_queue("default")
    queue.connection.ping()
    return queue


@contextlib.contextmanager
def workers(count=1):
    """`count` RQ workers as `manage.py serve` starts them (herokucd's worker_command)."""
    from herokucd.management.commands.serve import worker_command

    processes = [
        subprocess.Popen(worker_command(), cwd=ROOT, start_new_session=True) for _ in range(count)
    ]
    try:
        time.sleep(2)  # Django set up, listening on the queue
        yield processes
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(30)


def git(*args, cwd=None, env=None):
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **IDENTITY, **(env or {})},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def add_commits(repo, first, count, files=0, touched=4):
    """`count` commits on main of the bare `repo` through git fast-import (seconds, not minutes):
    with `files`, the first one adds that many files; each other one changes `touched` files."""
    stream = []
    parent = git("rev-parse", "--verify", "--quiet", "main", cwd=repo) if first > 1 else ""
    for n in range(first, first + count):
        stream.append(_commit_header(n, parent if n == first else ""))
        paths = range(files) if n == 1 and files else range(n * touched, (n + 1) * touched)
        for index in paths:
            stream.append(_file(f"src/module_{index % 2000:04d}.py", f"# {n}\nVALUE = {index}\n"))
    subprocess.run(
        ["git", "fast-import", "--quiet"],
        cwd=repo,
        input="".join(stream).encode(),
        check=True,
    )
    return git("rev-parse", "main", cwd=repo)


def _commit_header(n, parent):
    message = f"Change {n}\n"
    header = (
        f"commit refs/heads/main\ncommitter Bench <bench@example.com> {1_700_000_000 + n} +0000\n"
        f"data {len(message)}\n{message}"
    )
    return header + (f"from {parent}\n" if parent else "")


def _file(path, content):
    return f"M 644 inline {path}\ndata {len(content.encode())}\n{content}\n"


def bare_repo(path, commits=1, files=1):
    git("init", "-q", "--bare", "-b", "main", str(path))
    add_commits(path, 1, commits, files=files)
    return path


def project_for(sim, slug, repository, environments):
    """A project deploying `repository` with the simulator's key; `environments` maps
    environment name -> Heroku app."""
    from django.utils import timezone

    from bench import fixtures
    from herokucd.crypto import keyed_hash
    from projects.models import HerokuCredential

    owner = fixtures.user()
    project = fixtures.project(owner, slug=slug, repository_url=str(repository))
    HerokuCredential.objects.create(
        project=project,
        api_key=sim.api_key,
        key_hash=keyed_hash(sim.api_key),
        account_email="deployer@example.com",
        account_id="account-1",
        validated_at=timezone.now(),
        set_by=owner,
    )
    made = [
        fixtures.environment(project, name=name, app_name=app, position=position)
        for position, (name, app) in enumerate(environments.items())
    ]
    return project, made


def webhook(project):
    from deploys.trigger_models import WebhookEndpoint

    return WebhookEndpoint.objects.create(project=project, secret=WEBHOOK_SECRET)


def signed_delivery(sha, branch="main") -> tuple[bytes, dict]:
    """A green build in the generic webhook format, signed as a CI would sign it."""
    body = json.dumps({"branch": branch, "sha": sha, "status": "success"}).encode()
    signature = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": f"sha256={signature}",
        "X-Herokucd-Delivery": str(uuid.uuid4()),
    }
    return body, headers


def wait_finished(deploy, timeout=300):
    """The deploy, reloaded once it has ended; RuntimeError unless it succeeded."""
    from deploys.models import State

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deploy.refresh_from_db()
        if deploy.finished_at and deploy.state != State.RUNNING:
            if deploy.state != State.SUCCEEDED:
                raise RuntimeError(f"deploy #{deploy.number} {deploy.state}: {deploy.reason}")
            return deploy
        time.sleep(0.02)
    raise RuntimeError(f"deploy #{deploy.number} did not finish within {timeout} s")


def now() -> float:
    """A job that returns when it ran: the baseline of the queue pickup."""
    return time.time()
