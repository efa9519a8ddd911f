"""The JSON API for automation, authenticated with `Authorization: Bearer <token>`.

Same permissions as the pages: every project goes through `get_project_for_user`, so an outsider
gets 404 and a viewer gets 403 for what needs the deployer role.
"""

import json
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from deploys import waiting
from deploys.actions_views import COMMIT
from deploys.logformat import MAX_LINE_NUMBER, read_lines
from deploys.models import Deploy, State, Trigger
from deploys.trigger_models import ApiToken
from herokucd import siteurl
from projects import branches
from projects.access import get_project_for_user, memberships_of, projects_for_user
from projects.models import Role

LOG_LIMIT = 1000
DEPLOYS_LISTED = 20
EXAMPLE = '{"environment": "staging", "branch": "main"}'


def _error(status, message):
    return JsonResponse({"error": message}, status=status)


def _bearer(request) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def token_required(view):
    """Authenticate with the bearer token, and turn 404/403 into JSON errors."""

    @csrf_exempt  # no cookies are used: a forged cross-site request has no token
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        value = _bearer(request)
        token = ApiToken.find(value) if value else None
        if token is None or not token.user.is_active:
            return _error(
                401, "Send Authorization: Bearer <token>; create one at /account/tokens/."
            )
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        request.user = token.user
        try:
            return view(request, *args, **kwargs)
        except Http404:
            return _error(404, "Not found, or you are not a member of this project.")
        except PermissionDenied as error:
            return _error(403, str(error) or "You are not allowed to do this.")

    return wrapper


def _iso(value):
    return value.isoformat() if value else None


def environment_json(environment):
    return {
        "name": environment.name,
        "app": environment.app_name,
        "branch": environment.branch,
        "auto_deploy": environment.auto_deploy,
    }


def project_json(project, request):
    return {
        "slug": project.slug,
        "name": project.name,
        "url": siteurl.absolute(project.get_absolute_url(), request),
        "environments": [environment_json(e) for e in project.environments.all()],
    }


def step_json(step):
    return {
        "position": step.position,
        "name": step.name,
        "title": step.title,
        "state": step.state,
        "started_at": _iso(step.started_at),
        "finished_at": _iso(step.finished_at),
    }


def deploy_json(deploy, request, steps=True, queue=None):
    """`queue`: where a queued deploy stands (`_queue_json`); None for the others."""
    data = {
        "number": deploy.number,
        "url": siteurl.absolute(deploy.get_absolute_url(), request),
        "environment": deploy.environment_name,
        "app": deploy.app_name,
        "branch": deploy.branch,
        "sha": deploy.sha,
        "state": deploy.state,
        "reason": deploy.reason,
        "trigger": deploy.trigger,
        "triggered_by": deploy.triggered_by.username if deploy.triggered_by else None,
        "created_at": _iso(deploy.created_at),
        "started_at": _iso(deploy.started_at),
        "finished_at": _iso(deploy.finished_at),
        "queue": queue,
    }
    if steps:
        data["steps"] = [step_json(step) for step in deploy.steps.all()]
    return data


@token_required
@require_GET
def projects(request):
    found = projects_for_user(request.user).prefetch_related("environments")
    return JsonResponse({"projects": [project_json(p, request) for p in found]})


@token_required
@require_GET
def project(request, slug):
    found, _ = get_project_for_user(request, slug)
    return JsonResponse(project_json(found, request))


@token_required
@require_http_methods(["GET", "POST"])
def deploys(request, slug):
    if request.method == "POST":
        return _trigger(request, slug)
    found, _ = get_project_for_user(request, slug)
    recent = list(found.deploys.select_related("triggered_by", "project")[:DEPLOYS_LISTED])
    waiting.describe(recent)
    listed = [
        deploy_json(d, request, False, _queue_json(request, d, described=True)) for d in recent
    ]
    return JsonResponse({"deploys": listed})


def _queue_json(request, deploy, described=False):
    """Where a queued deploy stands: its place, what it waits for, the deploys ahead (another
    project's named only to its members)."""
    if deploy.state != State.QUEUED:
        return None
    queue = getattr(deploy, "waiting", None) if described else waiting.waiting_of(deploy)
    if queue is not None and queue.deferred and queue.until is None:
        queue.until = waiting.rate_limit_until(deploy)
    visible = {m.project.pk: m.project for m in memberships_of(request)}
    return waiting.as_json(queue, deploy.project, visible)


def _read_trigger_body(request):
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return None, 'The body must be JSON, like {"environment": "staging", "branch": "main"}.'
    if not isinstance(data, dict) or not isinstance(data.get("environment"), str):
        return None, 'Name the environment: {"environment": "staging", "branch": "main"}.'
    if not any(isinstance(data.get(k), str) and data.get(k) for k in ("branch", "sha")):
        return None, "Give a branch or a sha to deploy."
    return data, _bad_target(data)


def _bad_target(data) -> str:
    """What is wrong with the environment, branch or sha given, in the caller's words."""
    if "\x00" in data["environment"] or len(data["environment"]) > 50:
        return "No such environment name is possible."
    sha, branch = data.get("sha") or "", data.get("branch") or ""
    if sha and (not isinstance(sha, str) or not COMMIT.fullmatch(sha.lower())):
        return "The sha must be 7 to 40 hexadecimal characters."
    if branch and (
        not isinstance(branch, str) or len(branch) > 255 or not branches.is_name(branch)
    ):
        return "This is not a valid git branch name."
    override = data.get("override")
    if override is not None and (
        not isinstance(override, str) or len(override) > 500 or "\x00" in override
    ):
        return "The override must be its reason: text of at most 500 characters."
    return ""


def _trigger(request, slug):
    from deploys.services import DeployError, Held, OverrideRefused, request_deploy

    found, _ = get_project_for_user(request, slug, Role.DEPLOYER)
    data, problem = _read_trigger_body(request)
    if problem:
        return _error(400, problem)
    environment = found.environments.filter(name=data["environment"]).first()
    if environment is None:
        names = ", ".join(found.environments.values_list("name", flat=True)) or "none yet"
        return _error(400, f"No environment {data['environment']!r}; this project has: {names}.")
    if request.GET.get("plan") == "1":
        return _plan(request, environment, data)
    try:
        deploy = request_deploy(
            environment,
            sha=(data.get("sha") or "").lower(),
            branch=data.get("branch") or "",
            trigger=Trigger.MANUAL,
            user=request.user,
            detail="API",
            override=data.get("override"),  # an admin's reason to pass a lock or freeze window
        )
    except Held as held:
        return _error(409, str(held))
    except OverrideRefused as refused:
        return _error(403, str(refused))
    except DeployError as error:
        return _error(503, str(error))
    return JsonResponse(
        deploy_json(deploy, request, queue=_queue_json(request, deploy)), status=202
    )


def _plan(request, environment, data):
    """`?plan=1`: what the deploy would do, without starting it (deploys/plan.py)."""
    from deploys import plan

    target = {"sha": data["sha"].lower()} if data.get("sha") else {"branch": data["branch"]}
    return JsonResponse(plan.as_json(plan.make(environment, user=request.user, **target)))


def _deploy_for(request, slug, number):
    found, _ = get_project_for_user(request, slug)
    deploy = get_object_or_404(
        Deploy.objects.select_related("triggered_by"), project=found, number=number
    )
    deploy.project = found
    return deploy


@token_required
@require_GET
def deploy(request, slug, number):
    found = _deploy_for(request, slug, number)
    return JsonResponse(deploy_json(found, request, queue=_queue_json(request, found)))


def _after(request) -> int:
    try:
        return min(max(int(request.GET.get("after", 0)), 0), MAX_LINE_NUMBER)
    except ValueError:
        return -1


@token_required
@require_GET
def deploy_log(request, slug, number):
    found = _deploy_for(request, slug, number)
    after = _after(request)
    if after < 0:
        return _error(400, "after must be a line number (0 for the first line).")
    lines = read_lines(found, after=after, limit=LOG_LIMIT)
    return JsonResponse(
        {
            "state": found.state,
            "lines": [
                {
                    "number": line.number,
                    "step": line.step,
                    "stream": line.stream,
                    "time_ms": line.time_ms,
                    "text": line.text,
                }
                for line in lines
            ],
            "next_after": lines[-1].number if lines else after,
        }
    )
