"""Deploy, step and log rows made directly, so viewer tests need no deploy engine."""

import time
from datetime import timedelta

from django.db.models import Max
from django.utils import timezone

from deploys import logformat
from deploys.models import Deploy, DeployStep, LogChunk, State, StepState
from deploys.trigger_models import GitRequest
from projects import pagecache
from projects.models import Environment, HerokuCredential

STEP_TITLES = ["Check out the code", "Push to Heroku", "Run the migration", "Check health"]


def make_environment(project, name="staging", app_name=None, **extra):
    app_name = app_name or f"{project.slug}-{name}"
    return Environment.objects.create(
        project=project, name=name, branch=extra.pop("branch", "main"), app_name=app_name, **extra
    )


def make_deploy(project, environment=None, state=State.SUCCEEDED, seconds=72, **extra):
    """A deploy numbered after the project's last one, started `seconds` before it finished."""
    environment = environment or project.environments.first() or make_environment(project)
    number = (project.deploys.aggregate(n=Max("number"))["n"] or 0) + 1
    finished = timezone.now() if state in (State.SUCCEEDED, State.FAILED, State.CANCELED) else None
    started = (finished or timezone.now()) - timedelta(seconds=seconds)
    fields = {
        "project": project,
        "number": number,
        "environment": environment,
        "environment_name": environment.name,
        "app_name": environment.app_name,
        "branch": "main",
        "sha": f"{number:07x}" + "a" * 33,
        "state": state,
        "started_at": None if state == State.QUEUED else started,
        "finished_at": finished,
        **extra,
    }
    deploy = Deploy.objects.create(**fields)
    pagecache.touch(project.pk)  # as services.request_deploy does for the deploys it creates
    return deploy


def make_steps(deploy, states, first_lines=None):
    """One step per state, titled from STEP_TITLES; `first_lines` gives each step's first line."""
    steps = []
    for position, step_state in enumerate(states, start=1):
        started = step_state not in (StepState.PENDING, StepState.SKIPPED)
        steps.append(
            DeployStep.objects.create(
                deploy=deploy,
                position=position,
                name=f"step{position}",
                title=STEP_TITLES[(position - 1) % len(STEP_TITLES)],
                state=step_state,
                started_at=deploy.started_at if started else None,
                finished_at=deploy.finished_at if started and step_state != "running" else None,
                first_line=(first_lines or {}).get(position),
            )
        )
    return steps


def now_ms():
    return int(time.time() * 1000)


def append_lines(deploy, texts, step=1, stream=logformat.STDOUT, chunk_size=500):
    """Append lines after the deploy's last one, `chunk_size` lines per LogChunk."""
    last = deploy.log_chunks.aggregate(n=Max("first_line"))["n"]
    next_line = 1
    if last:
        chunk = deploy.log_chunks.get(first_line=last)
        next_line = chunk.first_line + chunk.line_count
    texts = list(texts)
    for start in range(0, len(texts), chunk_size):
        part = texts[start : start + chunk_size]
        content = "\n".join(logformat.encode(step, stream, now_ms(), t) for t in part)
        LogChunk.objects.create(
            deploy=deploy, first_line=next_line, line_count=len(part), content=content
        )
        next_line += len(part)
    Deploy.objects.filter(pk=deploy.pk).update(line_count=next_line - 1)
    return next_line - 1


def give_key(project, key_hash="key-of-foo"):
    """The project's Heroku key (the key itself is never shown: pages must not contain it)."""
    return HerokuCredential.objects.create(
        project=project,
        api_key="not-shown-api-key",
        key_hash=key_hash,
        account_email="ops@example.com",
        account_id="acct-1",
        validated_at=timezone.now(),
    )


def ledger(app_name, requests=2, minutes_ago=0, retry_in=None, key_hash="key-of-foo"):
    """A row of the git rate-limit ledger: `requests` made `minutes_ago`, or a 429 pause."""
    now = timezone.now()
    return GitRequest.objects.create(
        key_hash=key_hash,
        app_name=app_name,
        requests=requests,
        made_at=now - timedelta(minutes=minutes_ago),
        retry_at=now + timedelta(minutes=retry_in) if retry_in else None,
    )
