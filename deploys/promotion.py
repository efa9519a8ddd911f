"""Promotion through a Heroku pipeline (docs/heroku.md §9): the release a succeeded deploy made
on one environment goes to the next environment as it is, its slug copied, not rebuilt.

The next environment is the project's environment whose app is coupled at the next stage of
the source app's pipeline, in the order `heroku pipelines:promote` uses (development, staging,
production). A promotion is a Deploy of the same commit on that environment (`promoted_from`),
wrapped in the target environment's own steps, with a `promote` step instead of the push
(pipeline.Run.promote). Everything Heroku would refuse is checked before the deploy is
created (`plan`) and again before the deploy changes anything (`couple`, in the pipeline).
"""

from dataclasses import dataclass

from django.db import transaction

from deploys import services
from deploys.models import Deploy, State, Trigger
from herokucd.heroku import HerokuClient, HerokuError, NotFound
from projects.models import Environment

PROMOTION_ORDER = ("development", "staging", "production")  # heroku/cli promote.ts


class PromotionRefused(services.DeployError):
    """The promotion cannot be done; str() says why, in the user's words."""


@dataclass
class Pipeline:
    id: str
    name: str
    source_app_id: str
    target_app_id: str


@dataclass
class Plan:
    """What a promotion of `source` would do, as Heroku says it now (the confirmation page)."""

    source: Deploy
    target: Environment
    pipeline: Pipeline
    source_stage: str
    target_stage: str
    release: dict  # the source app's release to promote
    commit: str
    live: dict | None  # the target app's current release
    live_commit: str
    live_deploy: Deploy | None  # the target environment's last succeeded deploy
    others: list  # further environments coupled at the target stage (not chosen)

    @property
    def already_live(self) -> bool:
        return bool(self.commit and self.live_commit == self.commit)


def client_for(project) -> HerokuClient:
    credential = getattr(project, "heroku_credential", None)
    if credential is None:
        raise PromotionRefused("This project has no Heroku API key: add one in its settings.")
    return HerokuClient(credential.api_key, retries=1)  # a person waits


def coupling(client, app) -> dict:
    try:
        return client.pipeline_coupling(app)
    except NotFound:
        raise PromotionRefused(
            f"{app} is not in a Heroku pipeline: add it and the app of the next environment to "
            f"one (heroku pipelines:add) to promote between them."
        ) from None


def couple(client, source_app, target_app) -> Pipeline:
    """The pipeline both apps are coupled in; refused when they are not in the same one."""
    source, target = coupling(client, source_app), coupling(client, target_app)
    if source["pipeline"]["id"] != target["pipeline"]["id"]:
        raise PromotionRefused(
            f"{source_app} and {target_app} are not coupled in the same Heroku pipeline "
            f"({_pipeline_name(source)} and {_pipeline_name(target)}): Heroku promotes only "
            "between apps of one pipeline."
        )
    return Pipeline(
        source["pipeline"]["id"], _pipeline_name(source), source["app"]["id"], target["app"]["id"]
    )


def _pipeline_name(found) -> str:
    return found["pipeline"].get("name") or found["pipeline"]["id"]


def next_stage(app, found) -> str:
    stage = found["stage"]
    if stage not in PROMOTION_ORDER or stage == PROMOTION_ORDER[-1]:
        raise PromotionRefused(
            f"{app} is at the {stage} stage of the pipeline {_pipeline_name(found)}: there is "
            "no later stage to promote it to."
        )
    return PROMOTION_ORDER[PROMOTION_ORDER.index(stage) + 1]


def next_environments(client, environment) -> tuple[dict, str, list]:
    """The source app's coupling, the next stage, and the project's environments whose apps are
    coupled at that stage of the same pipeline (in the project's order)."""
    found = coupling(client, environment.app_name)
    stage = next_stage(environment.app_name, found)
    couplings = client.pipeline_couplings(found["pipeline"]["id"])
    at_stage = {c["app"]["id"] for c in couplings if c["stage"] == stage}
    targets = []
    for env in environment.project.environments.exclude(pk=environment.pk):
        if env.app_name != environment.app_name and _app_id(client, env.app_name) in at_stage:
            targets.append(env)
    if not targets:
        raise PromotionRefused(
            f"No environment of this project deploys to an app at the {stage} stage of the "
            f"pipeline {_pipeline_name(found)}: couple the next environment's app there "
            f"(heroku pipelines:add {_pipeline_name(found)} -a APP -s {stage})."
        )
    return found, stage, targets


def _app_id(client, app) -> str | None:
    try:
        return client.app(app)["id"]
    except NotFound:
        return None


def source_release(client, deploy) -> tuple[dict, str]:
    """The release `deploy` made, as Heroku has it now, and its commit."""
    app, version = deploy.app_name, deploy.release_version
    try:
        release = client.release(app, version)
    except NotFound:
        raise PromotionRefused(f"Release v{version} of {app} is no longer available.") from None
    if not release.get("slug"):
        raise PromotionRefused(f"Release v{version} of {app} has no code to promote.")
    if release.get("status") not in (None, "succeeded"):
        raise PromotionRefused(
            f"Release v{version} of {app} is {release['status']} on Heroku: only a succeeded "
            "release can be promoted."
        )
    commit = client.release_commit(app, release) or ""
    if deploy.sha and commit != deploy.sha:
        raise PromotionRefused(
            f"Release v{version} of {app} runs commit {commit[:7] or 'unknown'}, not deploy "
            f"#{deploy.number}'s commit {deploy.short_sha}."
        )
    return release, commit


def promotable(deploy, finishing=False) -> str:
    """Why `deploy` cannot be promoted, from herokucd's own records ("" when it can be);
    `finishing`: the pipeline asks as the deploy ends, succeeded."""
    if deploy.environment is None:
        return f"The environment {deploy.environment_name} no longer exists."
    if deploy.environment.app_name != deploy.app_name:
        return (
            f"The environment {deploy.environment_name} now deploys to "
            f"{deploy.environment.app_name}, not {deploy.app_name}: promote a newer deploy."
        )
    succeeded = finishing or deploy.state == State.SUCCEEDED
    if not succeeded or not deploy.release_version:
        return "Only a succeeded deploy that made a Heroku release can be promoted."
    return ""


def plan(deploy, target_id=None, finishing=False) -> Plan:
    """What promoting `deploy` would do now; `target_id`: the environment chosen among several
    coupled at the next stage. Refused (PromotionRefused) with the reason, before anything."""
    problem = promotable(deploy, finishing)
    if problem:
        raise PromotionRefused(problem)
    source_env = deploy.environment
    try:
        with client_for(deploy.project) as client:
            found, stage, targets = next_environments(client, source_env)
            target = next((e for e in targets if str(e.pk) == str(target_id)), targets[0])
            pipeline = couple(client, deploy.app_name, target.app_name)
            release, commit = source_release(client, deploy)
            live = (client.releases(target.app_name, limit=1) or [None])[0]
            live_commit = (client.release_commit(target.app_name, live) if live else "") or ""
    except HerokuError as error:
        raise PromotionRefused(
            f"Heroku could not be asked about the promotion ({error}); nothing was started. "
            "Try again in a moment."
        ) from None
    last = Deploy.objects.filter(environment=target, state=State.SUCCEEDED).order_by("-number")
    return Plan(
        source=deploy,
        target=target,
        pipeline=pipeline,
        source_stage=found["stage"],
        target_stage=stage,
        release=release,
        commit=commit,
        live=live,
        live_commit=live_commit,
        live_deploy=last.first(),
        others=[e for e in targets if e != target],
    )


def request_promotion(
    deploy, user, target_id=None, shown=None, detail="", finishing=False
) -> Deploy:
    """A promotion deploy of `deploy`'s release to the next environment, checked first.
    `shown`: (target app, source release id) as the confirmation page named them; refused when
    Heroku's answer changed since. `user` None: started by herokucd itself (auto-promote)."""
    found = plan(deploy, target_id, finishing)
    if shown is not None and shown != (found.target.app_name, found.release["id"]):
        raise PromotionRefused(
            "What the page showed has changed on Heroku since: look at the promotion again."
        )
    version = found.release["version"]
    with transaction.atomic():
        promotion = services.request_deploy(
            found.target,
            sha=found.commit or deploy.sha,
            branch=deploy.branch,
            trigger=Trigger.PROMOTION,
            user=user,
            detail=detail,  # the deploy's page says what it promotes (promoted_from)
        )
        promotion.record(
            promoted_from=deploy,
            promotion_source_app=deploy.app_name,
            promotion_source_release_id=found.release["id"],
            promotion_source_version=version,
        )
    return promotion


def auto_promote(deploy, writer) -> Deploy | None:
    """After a healthy deploy of an environment set to auto-promote: queue its promotion to the
    next environment; what happened is said in the deploy's log. Never raises."""
    try:
        promotion = request_promotion(
            deploy,
            None,
            detail=f"Auto-promote after healthy deploy #{deploy.number} to "
            f"{deploy.environment_name}",
            finishing=True,
        )
    except services.DeployError as error:
        writer.system(f"Auto-promote: not promoted. {error}")
        return None
    writer.system(
        f"Auto-promote: promotion #{promotion.number} to {promotion.environment_name} "
        f"({promotion.app_name}) is queued."
    )
    return promotion
