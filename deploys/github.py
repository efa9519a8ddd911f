"""GitHub deployment statuses: each deploy of a project with a GitHub token is a GitHub
Deployment of its commit to its environment, whose status follows the deploy (queued,
in_progress, success, failure; inactive when it was superseded or canceled), with a link to the
deploy's page (log_url) and to the app (environment_url). Pull requests and commits then show
where they are deployed.

1. Each transition of a deploy (deploys/models.py sends `moved` once it is committed) queues
   `sync(deploy_id)` for the deploys of projects with a token: one RQ job, nothing else.
2. `sync` brings GitHub to the deploy's state now: it creates the GitHub Deployment once (its
   id kept in GitHubDeployment), then posts a status when the state differs from the last one
   GitHub took. A job that runs late posts the newest state; one that finds nothing new does
   nothing, so repeated or reordered jobs are harmless.
3. GitHub down, or refusing: the job records the problem and raises, and RQ tries again
   (GITHUB_RETRY_INTERVALS). A deploy never waits for GitHub and never fails because of it.
4. Redis away when a deploy ended (its job could not be queued): the workers' maintenance
   (`send_missed`, every minute) queues it for the deploys that ended in the last day and whose
   final status GitHub has not taken, unless a job is already trying (it recorded a problem).
"""

import logging
from datetime import timedelta

import django_rq
from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from rq import Retry

from deploys.github_models import GitHubDeployment
from deploys.models import Deploy, State
from herokucd import github, siteurl

log = logging.getLogger(__name__)

GITHUB_STATES = {
    State.QUEUED: "queued",
    State.RUNNING: "in_progress",
    State.SUCCEEDED: "success",
    State.FAILED: "failure",
    State.CANCELED: "inactive",  # superseded or canceled: nothing of it is live
}
LOCK_SECONDS = 120


def why_off(project) -> str:
    """Why deployment statuses are off for `project`, "" when they are on."""
    if github.repository_of(project.repository_url) is None:
        return "The project's repository is not on github.com."
    if not hasattr(project, "github_token"):
        return "No GitHub token is set."
    return ""


def follow(deploy_ids) -> None:
    """Queue `sync` for those of `deploy_ids` whose project has a GitHub token; never raises."""
    try:
        wanted = Deploy.objects.filter(pk__in=deploy_ids, project__github_token__isnull=False)
        for deploy_id, number in wanted.values_list("pk", "number"):
            enqueue(deploy_id, number)
    except Exception:
        log.exception("Could not queue the GitHub deployment status of deploys %s", deploy_ids)


MISSED_AGE_SECONDS = 30  # younger ones are still being queued by whoever ended the deploy


def send_missed(min_age: int = MISSED_AGE_SECONDS) -> list[int]:
    """Queue `sync` for deploys that ended in the last day without GitHub having taken their
    final status and without a job trying; their ids."""
    now = timezone.now()
    ended = Deploy.objects.filter(
        project__github_token__isnull=False,
        state__in=[State.SUCCEEDED, State.FAILED],
        finished_at__gte=now - timedelta(days=1),
        finished_at__lt=now - timedelta(seconds=min_age),
    )
    taken = Q(state=State.SUCCEEDED, github__state="success") | Q(
        state=State.FAILED, github__state="failure"
    )
    missed = ended.exclude(taken).exclude(github__problem__gt="")
    found = list(missed.values_list("pk", "number"))
    for deploy_id, number in found:
        enqueue(deploy_id, number)
    return [deploy_id for deploy_id, _ in found]


def enqueue(deploy_id, number):
    intervals = settings.GITHUB_RETRY_INTERVALS
    django_rq.get_queue("default").enqueue(
        sync,
        deploy_id,
        retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
        job_timeout=LOCK_SECONDS,
        description=f"GitHub deployment status of deploy #{number}",
    )


def sync(deploy_id) -> str:
    """Bring the deploy's GitHub Deployment to its state now (an RQ job; raises to be retried)."""
    deploy = (
        Deploy.objects.select_related("project__github_token", "environment")
        .filter(pk=deploy_id)
        .first()
    )
    if deploy is None or why_off(deploy.project):
        return "off"
    lock = django_rq.get_connection("default").lock(
        f"herokucd:github-deploy:{deploy_id}", timeout=LOCK_SECONDS, blocking_timeout=30
    )
    if not lock.acquire():
        raise github.GitHubError("Another job is updating this deployment; trying again later.")
    try:
        return _sync(deploy)
    finally:
        lock.release()


def _sync(deploy) -> str:
    deploy.refresh_from_db(fields=["state", "reason", "sha", "release_commit"])
    token = deploy.project.github_token.token
    owner, name = github.repository_of(deploy.project.repository_url)
    record, _ = GitHubDeployment.objects.get_or_create(
        deploy=deploy, defaults={"repository": f"{owner}/{name}"}
    )
    wanted = GITHUB_STATES[deploy.state]
    sha = deploy.sha or deploy.release_commit
    if record.deployment_id is None and (wanted == "inactive" or not sha):
        return "nothing to report"  # never reported, nothing live: GitHub need not hear of it
    if record.state == wanted:
        return wanted
    try:
        if record.deployment_id is None:
            record.deployment_id = github.create_deployment(
                token, (owner, name), sha, deploy.environment_name, f"herokucd #{deploy.number}"
            )
            record.save(update_fields=["deployment_id"])
        github.create_status(token, (owner, name), record.deployment_id, wanted, **_links(deploy))
    except github.GitHubError as error:
        record.attempts += 1
        record.problem = str(error)
        record.save(update_fields=["attempts", "problem"])
        log.warning("GitHub status of deploy %s not taken: %s", deploy.pk, error)
        raise
    record.state, record.problem = wanted, ""
    record.save(update_fields=["state", "problem"])
    return wanted


def _links(deploy) -> dict:
    log_url = siteurl.absolute(deploy.get_absolute_url())
    environment = deploy.environment
    words = deploy.get_state_display() + (f": {deploy.reason}" if deploy.reason else "")
    return {
        "log_url": log_url if log_url.startswith(("http://", "https://")) else "",
        "environment_url": environment.web_url if environment else "",
        "description": f"herokucd #{deploy.number} {words}",
    }
