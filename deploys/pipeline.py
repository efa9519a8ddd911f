"""The deploy pipeline: the steps of one claimed deploy, top to bottom, through one log writer.

`execute(deploy)` runs `Run.steps()` and always ends with `Run.finish()`, which undoes what the
deploy changed on the app (maintenance mode, scaled-down process types). What to undo is kept
in `Deploy.cleanup_state` before each change is made, so the stale-deploy reaper can undo it
too when the worker died mid-deploy (`deploys.cleanup.undo_changes`).

`Run.plan()` decides which steps run; their rows exist, queued, from the start. A deploy
succeeds only when Heroku's newest release runs its commit (`check_release` after the push,
`confirm_live` at the end) and its release phase succeeded (`follow_release`, the "Release
phase" step: it waits while the release is `pending` and shows the release command's output);
a failed or canceled one records where it left the app (`record_end_state`) for its page.
"""

import contextlib
import logging
import threading
import time
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.utils import timezone

from deploys import buildapi, mirror, notifications, ratelimit, runners
from deploys.cache_flush import FlushFailed, cache_of, cache_secrets
from deploys.cleanup import quantities, undo_changes
from deploys.health import check_health
from deploys.heartbeat import Heartbeat, this_worker
from deploys.logwriter import LogWriter, private_key_secrets
from deploys.models import Deploy, DeployStep, State, StepState, Trigger
from herokucd import http
from herokucd.heroku import (
    DynoCanceled,
    DynoError,
    DynoTimeout,
    Forbidden,
    HerokuClient,
    HerokuError,
    InvalidParams,
    NotFound,
    StreamIdle,
    Unavailable,
)
from herokucd.lines import LineDecoder
from projects.models import (
    CacheFlush,
    CommitOnHeroku,
    DeployMethod,
    Environment,
    MaintenanceMode,
)

log = logging.getLogger(__name__)
PUSH_TIMEOUT = 1800
PUSH_IDLE_TIMEOUT = 600
PROMOTION_TIMEOUT = 1800
RESTORE_TIMEOUT = 3600
COMMAND_IDLE_TIMEOUT = 300
CANCEL_CHECK_SECONDS = 0.5  # how soon a Build API deploy notices its cancel while Heroku builds
# Heroku stops a release command after one hour, a limit that cannot be raised (docs/heroku.md
# §6.1); herokucd waits five minutes more for Heroku to say so before it stops waiting.
RELEASE_PHASE_TIMEOUT = 3600 + 300
RELEASE_POLL_SECONDS = 2  # between two readings of a pending release's status
REFUSED = "refused"  # the outbound policy refused the release phase's output stream


def release_phase_timeout() -> float:
    return getattr(settings, "DEPLOY_RELEASE_PHASE_TIMEOUT", RELEASE_PHASE_TIMEOUT)


class StepFailed(Exception):
    """A step failed; str() is the deploy's reason, in the user's words."""

    def __init__(self, message, exit_status=None):
        super().__init__(message)
        self.exit_status = exit_status


class Canceled(Exception):
    pass


CANCELED = (Canceled, runners.CommandCanceled, DynoCanceled)


def execute(deploy: Deploy, fetch: mirror.Fetch | None = None):
    """Run a claimed (running) deploy to its end. Returns the DeferDeploy when it must wait.
    `fetch`: the mirror's fetch, when it was started already (`mirror.fetch_ahead`)."""
    try:
        run = Run(deploy, fetch)
    except Exception as error:  # e.g. the project lost its Heroku credential
        finish_deploy(deploy, State.FAILED, reason_for(error))
        return None
    try:
        run.start()
        run.steps()
    except ratelimit.DeferDeploy as defer:
        return run.defer(defer)
    except BaseException as error:
        run.failure(error)
        if not isinstance(error, Exception):
            raise
    finally:
        run.finish()
    return None


def planned_steps(environment: Environment, promote_from: str = "") -> dict[str, str]:
    """The steps a deploy of `environment` runs with its options now, in order, name -> title:
    what the pipeline runs and what the Deploy form's confirmation lists. A promotion
    (`promote_from`: the release it promotes, in words) promotes instead of pushing: nothing
    to check out, and no custom command (they run in a checkout)."""
    env = environment
    migrating = bool(env.migration_command)
    types = Environment.split_names(env.scale_down_types) if migrating else []
    mode = env.maintenance_mode
    maintenance = mode == MaintenanceMode.DEPLOY or (
        mode == MaintenanceMode.MIGRATIONS and migrating
    )
    flush = bool(env.cache_flush and Environment.split_names(env.cache_config_vars))
    steps = [
        ("checkout", True, "Check out the commit"),
        ("pre_deploy", bool(commands_of(env.pre_deploy_commands)), "Pre-deploy commands"),
        ("backup", env.backup_before_migrate and migrating, "Back up the database"),
        ("maintenance_on", maintenance, "Maintenance mode on"),
        ("scale_down", bool(types), f"Scale {', '.join(types)} to 0"),
        ("push", True, push_title(env)),
        ("release_phase", True, "Release phase"),
        ("migrate", migrating, f"Migration: {env.migration_command}"),
        ("scale_back", bool(types), "Scale back"),
        ("maintenance_off", maintenance, "Maintenance mode off"),
        ("cache_flush", flush, flush and f"Flush the cache ({CacheFlush(env.cache_flush).label})"),
        ("post_deploy", bool(commands_of(env.post_deploy_commands)), "Post-deploy commands"),
        ("health_check", bool(env.health_check_url or env.health_check_text), "Health check"),
    ]
    if promote_from:
        steps = [_promotion_step(step, promote_from) for step in steps]
    return {name: title for name, wanted, title in steps if wanted}


def rollback_plan(deploy) -> dict[str, str]:
    """A rollback's steps: the rollback and its release phase alone, or, restoring the
    database, in maintenance with the workers at 0 around the restore and the rollback (the
    cleanup undoes both)."""
    undone = deploy.rollback_of
    title = f"Roll back deploy #{undone.number}" if undone else "Roll back"
    name = deploy.restore_backup_name
    if not name:
        return {"rollback": title, "release_phase": "Release phase"}
    before = deploy.restore_before
    taken = f" taken before deploy #{before.number}" if before else ""
    return {
        "maintenance_on": "Maintenance mode on",
        "scale_down": "Scale the workers to 0",
        "restore": f"Restore the database from backup {name}{taken}",
        "rollback": title,
        "release_phase": "Release phase",
        "scale_back": "Scale back",
        "maintenance_off": "Maintenance mode off",
    }


def push_title(environment: Environment) -> str:
    if environment.deploy_method == DeployMethod.BUILD_API:
        return "Build on Heroku (Build API)"
    return f"Push to Heroku ({environment.heroku_branch})"


def _promotion_step(step, promote_from):
    name, wanted, title = step
    if name == "push":
        return "promote", True, f"Promote {promote_from} (Heroku pipeline)"
    return name, wanted and name not in ("checkout", "pre_deploy", "post_deploy"), title


def promotion_words(deploy) -> str:
    """release v12 of shop-staging: what a promotion deploy promotes."""
    return f"release v{deploy.promotion_source_version} of {deploy.promotion_source_app}"


def end_state(client, deploy, migration: dict, this_release: str | None = None) -> dict:
    """Where a failed or canceled deploy left its app, as Heroku says it now (after cleanup):
    maintenance, process quantities, the live release and its commit, whose release that is
    (`this_release`: the id of the release the deploy made, "" for none; None when unknown, as
    for the reaper: then the deploy's recorded release version decides), how its migration went,
    and the environment's last good deploy. Never raises: a failure to ask is said in it."""
    state = {"migration": migration}
    try:
        state.update(_app_state(client, deploy, this_release))
    except HerokuError as error:
        state["error"] = f"Heroku could not be asked: {error}"
    except Exception as error:  # the deploy must still end: never let this stop its end
        log.error("Reading the app's state after deploy failed", exc_info=error)
        state["error"] = f"herokucd could not read the app's state ({type(error).__name__})."
    state["last_good"] = last_good(deploy, state.get("release"))
    return state


def _app_state(client, deploy, this_release) -> dict:
    app = deploy.app_name
    formation = {item["type"]: item["quantity"] for item in client.formation(app)}
    releases = client.releases(app, limit=10)
    current = next((r for r in releases if r.get("current")), releases[0] if releases else None)
    release = None
    if current is not None:
        if current["id"] == this_release or (
            this_release is None and current["version"] == deploy.release_version
        ):
            whose = "this"
        else:
            whose = "before" if current["id"] == deploy.previous_release_id else "other"
        release = {
            "version": current["version"],
            "commit": client.release_commit(app, current) or "",
            "status": current.get("status") or "",
            "whose": whose,
        }
    return {
        "maintenance": bool(client.app(app).get("maintenance")),
        "formation": dict(sorted(formation.items())),
        "release": release,
    }


class Run:
    """One execution of the pipeline for one deploy."""

    def __init__(self, deploy: Deploy, fetch: mirror.Fetch | None = None):
        self.deploy = deploy
        self.environment: Environment = deploy.environment
        if self.environment is None:
            raise StepFailed(f"The environment {deploy.environment_name} was deleted.")
        self.app = deploy.app_name
        self.resources = contextlib.ExitStack()
        self.fetch = fetch or mirror.fetch_ahead(deploy, clone=True)
        self.cancel_event = self.fetch.cancel_event if self.fetch else threading.Event()
        if self.fetch is not None:
            # The deploy ended before its checkout (it failed, or waits for the rate limit):
            # git is stopped as a cancel stops it, and waited for, as it holds the mirror.
            self.resources.callback(self.fetch.close, stop=True)
        try:
            self.set_up()
        except BaseException:
            self.resources.close()
            raise
        self.outcome = (State.SUCCEEDED, "")
        self.planned = self.plan()  # name -> title of every step this deploy runs, in order
        self.pending = {}  # the planned steps' rows not started yet, by name
        self.migration = {}  # how the migration ended, for the page after a failure
        self.live = None  # (release id, commit) Heroku said the push left live
        self.new_release = None  # the release the push (or a rollback) made, as Heroku said
        self.stream_problem = None  # why the release phase's output stream broke, last time
        self.release_phase = {}  # the release phase followed: release version and outcome
        self.config_vars = None
        self.checkout = None  # a working copy, made only when custom commands need one
        self.repository = None  # the project's mirror, which git pushes from
        self.early_release = None  # the app's latest release, asked for while git fetches
        self.pool = None  # a thread for Heroku calls made while the deploy does something else
        self.pipeline = None  # a promotion's Heroku pipeline (promotion.Pipeline)

    def set_up(self):
        """The deploy's Heroku key and client, log writer, heartbeat, and steps so far."""
        credential = getattr(self.deploy.project, "heroku_credential", None)
        if credential is None:
            raise StepFailed("This project has no Heroku API key: add one in its settings.")
        self.api_key = credential.api_key
        self.credential = credential
        self.client = HerokuClient(self.api_key)
        self.writer = LogWriter(self.deploy, self._secrets())
        self.heartbeat = Heartbeat(self.deploy.pk, self.cancel_event)
        self.step_count = 0

    def _secrets(self):
        deploy_key = getattr(self.deploy.project, "deploy_key", None)
        private_key = deploy_key.private_key if deploy_key else ""
        return [self.api_key, *private_key_secrets(private_key)]

    # -- the steps, in the order the log shows them ----------------------------------------

    def start(self):
        self.heartbeat.start()
        deploy = self.deploy
        who = deploy.triggered_by or deploy.trigger_detail or deploy.get_trigger_display()
        self.writer.system(f"Deploy #{deploy.number} to {self.app}, started by {who}.")
        self.plan_steps()
        self.redact_config_vars()
        # Neither a promotion nor a Build API build is a git request: nothing to wait for.
        if deploy.trigger != Trigger.PROMOTION and not self.builds_with_api:
            ratelimit.before_push(self.deploy, self.credential)

    def steps(self):
        if self.deploy.trigger == Trigger.ROLLBACK:
            self.rollback_steps()
            return
        if self.deploy.trigger == Trigger.PROMOTION:
            self.promotion_steps()
            return
        if self.needs_working_copy():
            runners.require_sandbox()  # before anything changes: no sandbox, no commands
        env = self.environment
        self.checkout_commit()
        self.commands("pre_deploy", env.pre_deploy_commands, env.pre_deploy_timeout)
        self.backup()
        # Before the push in both modes: the push releases the new code at once.
        self.maintenance_on()
        self.scale_down()
        self.push()
        self.follow_release(self.new_release)
        self.migrate()
        self.scale_back()
        self.maintenance_off()
        self.cache_flush()
        self.commands("post_deploy", env.post_deploy_commands, env.post_deploy_timeout)
        self.health_check()
        if self.steps_after("release_phase"):
            # else the release as its release phase ended is the last word
            self.confirm_live()

    def promotion_steps(self):
        """The target environment's own steps around the promotion, instead of the push."""
        self.check_promotion()  # before anything changes on the app
        self.backup()
        self.maintenance_on()
        self.scale_down()
        self.promote()
        self.follow_release(self.new_release)  # the promoted release runs its release phase
        self.migrate()
        self.scale_back()
        self.maintenance_off()
        self.cache_flush()
        self.health_check()
        if self.steps_after("release_phase"):
            self.confirm_live()

    def rollback_steps(self):
        """A rollback; one that restores the database too does it with the app in maintenance
        and its workers at 0 (no job writes meanwhile), the restore before the code, so a
        restore Heroku refuses leaves the app as it was. The cleanup undoes both, always."""
        self.check_backup()  # before anything changes: a backup gone since is no surprise later
        self.maintenance_on()
        self.scale_down()
        self.restore()
        self.rollback_release()
        self.follow_release(self.new_release)  # a rollback runs the release phase too
        self.scale_back()
        self.maintenance_off()

    def plan(self) -> dict[str, str]:
        """The steps this deploy runs, in order, name -> title. The one place that decides
        which steps run: each step method returns at once when its name is not planned."""
        if self.deploy.trigger == Trigger.ROLLBACK:
            return rollback_plan(self.deploy)
        if self.deploy.trigger == Trigger.PROMOTION:
            return planned_steps(self.environment, promotion_words(self.deploy))
        return planned_steps(self.environment)

    def steps_after(self, name) -> list[str]:
        names = list(self.planned)
        return names[names.index(name) + 1 :]

    def plan_steps(self):
        """Every planned step as a queued row from the start, so the page says "Step k of n"
        right away. A deploy back from waiting for Heroku's git rate limit has its rows: the
        planned ones are queued again, none is added twice."""
        rows = list(self.deploy.steps.all())
        if rows:
            planned = [row for row in rows if row.name in self.planned]
            for row in planned:
                row.state, row.started_at, row.finished_at = StepState.PENDING, None, None
                row.exit_status = None
            fields = ["state", "started_at", "finished_at", "exit_status"]
            DeployStep.objects.bulk_update(planned, fields)
            # Options changed while it waited: a step no longer planned will not run.
            unplanned = [row.pk for row in rows if row.name not in self.planned]
            self.deploy.steps.filter(pk__in=unplanned, state=StepState.PENDING).update(
                state=StepState.SKIPPED
            )
        else:
            rows = planned = DeployStep.objects.bulk_create(
                DeployStep(deploy=self.deploy, position=position, name=name, title=title)
                for position, (name, title) in enumerate(self.planned.items(), start=1)
            )
        self.pending = {row.name: row for row in reversed(planned)}  # the first of a name wins
        self.step_count = max((row.position for row in rows), default=0)

    def redact_config_vars(self):
        names = Environment.split_names(self.environment.secret_config_vars)
        flushing = "cache_flush" in self.planned
        if not names and not flushing:
            return
        values = self.app_config_vars()
        self.writer.add_secrets(values[name] for name in names if values.get(name))
        if flushing:  # the cache's passwords, from the first line on: read now, never stored
            self.writer.add_secrets(cache_secrets(self.environment, values))
        for name in names:
            if values.get(name) and len(values[name]) < 8:
                self.writer.system(f"Config var {name} is shorter than 8 characters: not redacted.")

    def checkout_commit(self):
        with self.step("checkout", "Check out the commit"):
            self.ask_release_early()
            try:
                sha = self.fetch_commit()
            finally:
                # The steps up to the push call Heroku too: one call at a time on the client.
                futures.wait([self.early_release] if self.early_release else [])
            if not self.needs_working_copy():
                # git pushes from the mirror itself; a copy of every file would only cost time.
                self.writer.system(f"Commit {sha[:12]} is ready to push.")
                return
            self.checkout = self.resources.enter_context(mirror.worktree(self.deploy.project, sha))
            self.writer.system(f"Checked out {sha[:12]}.")

    def fetch_commit(self) -> str:
        path = self.fetch.result(self.writer)
        deploy = self.deploy
        if deploy.trigger == Trigger.WEBHOOK and deploy.sha:
            # A signed build of any branch must not deploy another's commit: checked before
            # any change to the app.
            sha = mirror.commit_on_branch(path, deploy.sha, deploy.branch)
        else:
            sha = mirror.resolve(path, deploy.sha, deploy.branch)
        if sha != self.deploy.sha:
            self.save(sha=sha)
        self.repository = path
        return sha

    def ask_release_early(self):
        """Ask Heroku for the app's latest release while git fetches, unless a step before the
        push may make a new one (custom commands; the maintenance page, a config var)."""
        env = self.environment
        page = env.maintenance_page_url and "maintenance_on" in self.planned
        if "pre_deploy" in self.planned or page:
            return
        self.early_release = self.meanwhile(self.client.releases, self.app, limit=1)

    def release_before_push(self) -> list:
        early, self.early_release = self.early_release, None
        return early.result() if early else self.client.releases(self.app, limit=1)

    def needs_working_copy(self) -> bool:
        """Only custom commands run in a checkout; migrations run on Heroku."""
        env = self.environment
        return bool(env.pre_deploy_commands.strip() or env.post_deploy_commands.strip())

    def commands(self, name, text, timeout):
        if name not in self.planned:
            return
        with self.step(name):
            runners.run_commands(
                commands_of(text),
                self.checkout,
                api_key=self.api_key,
                writer=self.writer,
                timeout=timeout,
                idle_timeout=COMMAND_IDLE_TIMEOUT,
                cancel_event=self.cancel_event,
                variables=self.command_variables(),
            )

    def command_variables(self) -> dict:
        """The deploy variables custom commands get, as CircleCI named them (README)."""
        deploy = self.deploy
        return {
            "HEROKU_APP_NAME": self.app,
            "CIRCLE_SHA1": deploy.sha,
            "CIRCLE_BRANCH": deploy.branch or "",
        }

    def backup(self):
        if "backup" not in self.planned:
            return
        with self.step("backup"):
            poll = getattr(settings, "DEPLOY_BACKUP_POLL_SECONDS", 3)
            backup = self.client.capture_backup(
                self.app, poll_interval=poll, on_progress=self._stop_if_canceled
            )
            if not backup.succeeded:
                raise StepFailed(f"Backup {backup.name} failed on Heroku.")
            self.save(backup_name=backup.name)
            self.writer.system(f"Backup {backup.name} finished.")

    def maintenance_on(self):
        if "maintenance_on" not in self.planned:
            return
        with self.step("maintenance_on"):
            if self.client.app(self.app).get("maintenance"):
                self.writer.system("The app is already in maintenance mode; it will stay on.")
                return
            if self.environment.maintenance_page_url:
                page = {"MAINTENANCE_PAGE_URL": self.environment.maintenance_page_url}
                self.client.update_config_vars(self.app, page)
            self.remember(maintenance=True)  # before the call: it may work and still time out
            self.client.set_maintenance(self.app, True)

    def scale_down(self):
        if "scale_down" not in self.planned:
            return
        with self.step("scale_down"):
            current = {item["type"]: item["quantity"] for item in self.client.formation(self.app)}
            types = self.types_to_scale_down(current)
            for missing in [kind for kind in types if kind not in current]:
                self.writer.system(f"This app has no {missing} process type; skipped.")
            previous = {kind: current[kind] for kind in types if kind in current}
            if not previous:
                self.writer.system("No process type to scale down.")
                return
            self.remember(formation=previous)
            self.client.scale(self.app, dict.fromkeys(previous, 0))
            self.writer.system(f"Scaled to 0; will scale back to {quantities(previous)}.")

    def types_to_scale_down(self, current) -> list[str]:
        """The environment's; for a database restore, every running process type but web (the
        maintenance page stands in for it): nothing may write while the restore runs."""
        if self.deploy.restore_backup_name:
            return [kind for kind, quantity in current.items() if kind != "web" and quantity]
        return Environment.split_names(self.environment.scale_down_types)

    def restore(self):
        if "restore" not in self.planned:
            return
        name = self.deploy.restore_backup_name
        with self.step("restore"):
            self.writer.system(
                f"Restoring the DATABASE_URL database of {self.app} from backup {name} "
                "(heroku pg:backups:restore). Data written since the backup is replaced."
            )
            poll = getattr(settings, "DEPLOY_BACKUP_POLL_SECONDS", 3)
            restore = self.client.restore_backup(
                self.app, name, poll, RESTORE_TIMEOUT, self._restore_progress
            )
            self.writer.system(f"Restore {restore.name} finished: the database is as {name} was.")

    def check_backup(self):
        if "restore" in self.planned:
            name = self.deploy.restore_backup_name
            self.client.find_backup(self.app, name)
            self.writer.system(f"Backup {name} is on Heroku, finished and succeeded.")

    def _restore_progress(self, restore):
        """Each change of the restore as Heroku reports it. A cancel is not obeyed here: Heroku
        would go on restoring while the app left maintenance; it stops the steps after it."""
        said = (restore.finished_at, restore.processed_bytes)
        if said == getattr(self, "_restore_said", None):
            return
        self._restore_said = said
        done = f"{restore.processed_bytes or 0:,} bytes restored"
        if restore.finished_at:
            outcome = "succeeded" if restore.succeeded else "failed"
            self.writer.system(f"Restore {restore.name} {outcome} ({done}).")
        else:
            self.writer.system(f"Restore {restore.name} running: {done}.")

    def push(self):
        with self.step("push"):
            before = self.release_before_push()
            self.save(previous_release_id=before[0]["id"] if before else "")
            if self.builds_with_api:
                latest = self.build_push()
            else:
                latest = self.git_push(self.environment.heroku_branch).result()
            self.check_release(before[0] if before else None, *latest)

    @property
    def builds_with_api(self) -> bool:
        return self.environment.deploy_method == DeployMethod.BUILD_API

    def build_push(self) -> tuple[dict | None, str | None]:
        """Upload `git archive` of the commit and have Heroku build it (Build API); its output
        into the log. The release it made and its commit, for `check_release`."""
        with buildapi.archive(self.deploy.project, self.deploy.sha) as source:
            blob = self.client.create_source().get("source_blob") or {}
            self.writer.add_secrets(url for url in blob.values() if url)  # presigned URLs
            self.writer.system(f"Uploading the commit's files ({source.size:,} bytes).")
            try:
                buildapi.upload(blob.get("put_url"), source)
            except buildapi.Refused as refused:
                raise StepFailed(str(refused)) from None
            build = self.client.create_build(
                self.app, blob.get("get_url"), source.checksum, self.deploy.sha
            )
        self.remember(build=build["id"])  # a reaper cancels it if this worker dies meanwhile
        self.writer.system("Heroku is building the commit:")
        build, output = self.follow_build(build)
        self.forget("build")
        if build["status"] != "succeeded":
            raise StepFailed(buildapi.failure(build, output.last))
        if not (build.get("release") or {}).get("id"):
            return self.newest_release()
        release = self.client.release(self.app, build["release"]["id"])
        return release, self.client.release_commit(self.app, release)

    def follow_build(self, build) -> tuple[dict, buildapi.Output]:
        """Stream the build's output while Heroku builds, resuming when the stream drops (after
        DEPLOY_BUILD_POLL_SECONDS), until Heroku says the build ended."""
        try:
            output = buildapi.Output(build["output_stream_url"], self.writer)
        except buildapi.Refused as refused:
            self.cancel_build(build)
            raise StepFailed(str(refused)) from None
        deadline = time.monotonic() + PUSH_TIMEOUT
        while build["status"] == "pending":
            self.read_build_output(output, build, deadline)
            build = self.client.build(self.app, build["id"])
            if build["status"] == "pending":  # the stream dropped: resume it after a pause
                self.watch_build(build, deadline, getattr(settings, "DEPLOY_BUILD_POLL_SECONDS", 3))
        output.read()  # what was written after the stream last ended
        output.close()
        return build, output

    def read_build_output(self, output, build, deadline):
        """Read the stream in a thread until it ends, watching for a cancel meanwhile."""
        reading = threading.Thread(target=output.read, name="build-output", daemon=True)
        reading.start()
        reading.join(CANCEL_CHECK_SECONDS)  # returns the moment the stream ends
        while reading.is_alive():
            self.watch_build(build, deadline, 0)
            reading.join(CANCEL_CHECK_SECONDS)

    def watch_build(self, build, deadline, seconds):
        """Wait `seconds`; herokucd's cancel, or the build running past PUSH_TIMEOUT, cancels
        Heroku's build and ends the step."""
        if self.cancel_event.wait(seconds):
            self.cancel_build(build)
            raise Canceled
        if time.monotonic() > deadline:
            self.cancel_build(build)
            raise StepFailed(f"Heroku's build took longer than {PUSH_TIMEOUT // 60} minutes.")

    def cancel_build(self, build):
        try:
            self.client.cancel_build(self.app, build["id"])
            self.writer.system("Canceled Heroku's build.")
            self.forget("build")
        except HerokuError as error:
            self.writer.system(f"Heroku's build could not be canceled: {error}")

    def check_promotion(self):
        """Both apps still coupled in one pipeline: Heroku's ids for the promote step."""
        from deploys.promotion import PromotionRefused, couple  # it queues deploys: a cycle

        source = self.deploy.promotion_source_app
        try:
            self.pipeline = couple(self.client, source, self.app)
        except PromotionRefused as refused:
            raise StepFailed(str(refused)) from None
        self.writer.system(
            f"{source} and {self.app} are coupled in the Heroku pipeline {self.pipeline.name}."
        )

    def promote(self):
        """Promote the source release (its slug, not rebuilt), wait for Heroku's promotion
        target, then check the release it made as a push's (check_release)."""
        deploy = self.deploy
        with self.step("promote"):
            before = self.client.releases(self.app, limit=1)
            self.save(previous_release_id=before[0]["id"] if before else "")
            promotion = self.start_promotion()
            self.writer.system(f"Heroku promotion {promotion['id']} started.")
            target = self.wait_for_promotion(promotion["id"])
            if target["status"] == "failed":
                message = target.get("error_message") or "Heroku gave no reason."
                raise StepFailed(f"Heroku could not promote to {self.app}: {message}")
            self.writer.system(f"Heroku promoted {promotion_words(deploy)} to {self.app}.")
            self.check_release(before[0] if before else None, *self.newest_release())

    def start_promotion(self) -> dict:
        pipeline, words = self.pipeline, promotion_words(self.deploy)
        try:
            return self.client.promote(
                pipeline.id,
                pipeline.source_app_id,
                self.deploy.promotion_source_release_id,
                pipeline.target_app_id,
            )
        except (InvalidParams, Forbidden, NotFound) as refused:
            raise StepFailed(
                f"Heroku refused to promote {words} to {self.app}: {refused}"
            ) from None

    def wait_for_promotion(self, promotion_id) -> dict:
        poll = getattr(settings, "DEPLOY_PROMOTION_POLL_SECONDS", 2)
        deadline = time.monotonic() + PROMOTION_TIMEOUT
        while True:
            targets = self.client.promotion_targets(promotion_id)
            target = next(
                (t for t in targets if t["app"]["id"] == self.pipeline.target_app_id), None
            )
            if target is None:
                raise StepFailed(f"Heroku's promotion names no target {self.app}.")
            if target["status"] != "pending":
                return target
            if time.monotonic() > deadline:
                raise StepFailed(
                    f"Heroku's promotion to {self.app} was still pending after "
                    f"{PROMOTION_TIMEOUT // 60} minutes."
                )
            self.sleep(poll)

    def git_push(self, ref) -> Future:
        """Push, and record it in the rate-limit ledger while Heroku is asked for the release
        the push made and its commit (the future's result); Heroku's 429 defers the deploy."""
        try:
            runners.git_push(
                self.checkout or self.repository,
                self.client.git_url(self.app),
                self.deploy.sha,
                ref,
                api_key=self.api_key,
                writer=self.writer,
                force=self.environment.force_push,
                timeout=PUSH_TIMEOUT,
                idle_timeout=PUSH_IDLE_TIMEOUT,
                cancel_event=self.cancel_event,
            )
        except runners.CommandFailed as error:
            ratelimit.after_push(self.deploy, self.credential, error=str(error))
            if isinstance(error, runners.NotFastForward):
                raise StepFailed(self.not_fast_forward(ref), error.exit_status) from None
            raise
        latest = self.meanwhile(self.newest_release)
        ratelimit.after_push(self.deploy, self.credential)
        return latest

    def not_fast_forward(self, ref) -> str:
        return (
            f"Heroku refused commit {self.deploy.short_sha}: its {ref} branch has commits this "
            "one is not built on, so the commit is older than (or not built on) what Heroku "
            "has (git said non-fast-forward). To deploy it anyway, turn on Force push in this "
            "environment's deploy options and retry; to go back to an earlier deploy, roll back."
        )

    def newest_release(self) -> tuple[dict | None, str | None]:
        """Heroku's newest release and the commit it runs."""
        latest = self.client.releases(self.app, limit=1)
        if not latest:
            return None, None
        return latest[0], self.client.release_commit(self.app, latest[0])

    def check_release(self, before, latest, commit):
        """Go on only if Heroku's newest release runs this deploy's commit. A push of a commit
        Heroku's git branch already has builds and releases nothing ("Everything up-to-date"):
        after a rollback, another commit stays live. The environment's option says what then."""
        released = latest is not None and (before is None or latest["id"] != before["id"])
        if commit == self.deploy.sha:
            if not released:
                self.writer.system(
                    f"Heroku's git branch already had commit {self.deploy.short_sha}; its "
                    f"release v{latest['version']} is live, so nothing had to be built."
                )
            # A release still pending, or failed, is followed in the release phase step.
            self.record_release(latest, commit, new=released)
            return
        if released and latest.get("status") == "failed":
            raise StepFailed(_failed_release(latest, commit))
        if released:
            what = (
                f"Heroku's newest release after the push is {_release_words(latest, commit)}, "
                f"not a release of commit {self.deploy.short_sha}."
            )
        else:
            live = _release_words(latest, commit) if latest else "no release"
            what = (
                f"Heroku's git branch already had commit {self.deploy.short_sha}, so the push "
                f"built nothing and {live} is still live."
            )
        if self.environment.when_commit_on_heroku != CommitOnHeroku.RELEASE:
            raise StepFailed(
                f"{what} Retry with 'Release it again' set in this environment's deploy "
                "options, or roll back."
            )
        self.writer.system(f"{what} Releasing it again, as this environment's options say.")
        self.release_again()

    def release_again(self):
        """A new release of the newest slug Heroku built from this deploy's commit."""
        slug_id = self.slug_of_commit()
        if slug_id is None:
            raise StepFailed(
                f"Heroku has no build of commit {self.deploy.short_sha} to release again: "
                f"none of the app's last {RELEASES_SEARCHED} releases runs it. Deploy a newer "
                "commit, or roll back."
            )
        description = f"Deploy {self.deploy.short_sha} again (herokucd #{self.deploy.number})"
        release = self.client.create_release(self.app, slug_id, description)
        self.writer.system(f"Released commit {self.deploy.short_sha} again from its earlier build.")
        self.record_release(release, self.deploy.sha)

    def slug_of_commit(self) -> str | None:
        seen = set()
        for release in self.client.releases(self.app, limit=RELEASES_SEARCHED):
            slug_id = (release.get("slug") or {}).get("id")
            if slug_id and slug_id not in seen:
                seen.add(slug_id)
                if self.client.slug(self.app, slug_id).get("commit") == self.deploy.sha:
                    return slug_id
        return None

    def record_release(self, release, commit, new=True):
        """The release this deploy leaves live (once its release phase succeeds); `new`: the
        push or a release call made it (a push of a commit Heroku had made none)."""
        self.live = (release["id"], commit)
        self.save(release_version=release["version"], release_commit=commit or "")
        if new:
            self.new_release = release
        if release.get("status") == "pending":
            self.writer.system(
                f"Heroku made {_release_words(release, commit)}; it goes live when its release "
                "phase succeeds."
            )
        else:
            self.writer.system(f"Heroku {_release_words(release, commit)} is live.")

    # -- the release phase (docs/heroku.md §6.1) ------------------------------------------------

    def follow_release(self, release: dict | None) -> dict | None:
        """Follow Heroku's `release` (as the API answers it) through its release phase, as the
        "Release phase" step: wait for it to leave `pending`, writing its release command's
        output into the log as it comes (resumed where it stopped when the stream drops).
        Returns the release as it ended. Raises StepFailed in Heroku's words when it failed or
        is still pending after `release_phase_timeout()`, Canceled on herokucd's cancel. A
        release without a release phase (succeeded, no output stream), or None (no new
        release), skips the step and says why."""
        if release is None:
            self.skip("release_phase", "Release phase: none, as Heroku made no new release")
            return None
        if release.get("status") == "succeeded" and not release.get("output_stream_url"):
            self.skip(
                "release_phase",
                f"Release phase: none (release v{release['version']} has no release command: "
                "the Procfile has no release process)",
            )
            return release
        self.release_phase = {"version": release["version"], "outcome": "running"}
        with self.step("release_phase"):
            release = self.release_output(release, time.monotonic() + release_phase_timeout())
            self.release_phase["outcome"] = release.get("status")
            if release.get("status") != "succeeded":
                words = _failed_release(release, self._commit_of(release))
                raise StepFailed(f"The release phase failed: {words}")
            words = _release_words(release, self._commit_of(release))
            self.writer.system(f"The release phase succeeded: Heroku {words} is live.")
        return release

    def await_release(self, release) -> dict:
        """`release` once it has left `pending`, its output not shown (not this deploy's)."""
        deadline = time.monotonic() + release_phase_timeout()
        while release.get("status") == "pending":
            self.sleep(getattr(settings, "DEPLOY_RELEASE_POLL_SECONDS", RELEASE_POLL_SECONDS))
            release = self._release_now(release, deadline)
        return release

    def _commit_of(self, release) -> str | None:
        return self.live[1] if self.live and self.live[0] == release["id"] else None

    def release_output(self, release, deadline) -> dict:
        """Stream the release phase's output into the log until the release has ended and
        the stream has nothing more; the release as it ended."""
        lines, offset = LineDecoder(), 0
        while True:
            received, ended = self._read_release_output(release, lines, offset, deadline)
            offset += received
            if ended and not received and release["status"] != "pending":
                break  # it has ended, and its stream has nothing after `offset`
            if ended:
                if release["status"] == "pending" and not received:
                    self.sleep(
                        getattr(settings, "DEPLOY_RELEASE_POLL_SECONDS", RELEASE_POLL_SECONDS)
                    )
                release = self._release_now(release, deadline)
        for line in lines.close():
            self.writer.write(line)
        return release

    def _read_release_output(self, release, lines, offset, deadline) -> tuple[int, bool]:
        """(bytes read from `offset`, whether the stream ended or was missing: time to read
        the release's status); lines go to the log as they complete."""
        url = release.get("output_stream_url")
        if not url or self.stream_problem == REFUSED:
            return 0, True
        try:  # Heroku's answer names the URL: only Heroku's hosts, as for a build's output
            buildapi.check_url(url, "Reading the release phase's output")
        except buildapi.Refused as refused:
            self.writer.system(f"{refused} The release phase's output is not shown.")
            self.stream_problem = REFUSED
            return 0, True
        received = 0
        try:
            for chunk in self.client.output_stream(url, offset):
                received += len(chunk)
                for line in lines.feed(chunk):
                    self.writer.write(line)
                self._check_release_deadline(release, deadline)
        except StreamIdle:
            self._check_release_deadline(release, deadline)
            return received, False
        except NotFound:
            return received, True  # the release command has not started yet
        except Forbidden as refused:  # the outbound policy: wait for the status without it
            self.writer.system(f"{refused} The release phase's output is not shown.")
            self.stream_problem = REFUSED
        except Unavailable as error:
            problem = f"{error} Reading on from byte {offset + received}."
            if received or problem != self.stream_problem:  # once, while it stays down
                self.writer.system(problem)
            self.stream_problem = problem
        return received, True

    def _release_now(self, release, deadline) -> dict:
        self._check_release_deadline(release, deadline)
        return self.client.release(self.app, release["id"])

    def _check_release_deadline(self, release, deadline):
        self._stop_if_canceled()
        if time.monotonic() > deadline:
            self.release_phase["outcome"] = "timed_out"
            limit = release_phase_timeout()
            waited = f"{limit:g} seconds" if limit < 120 else f"{round(limit / 60)} minutes"
            raise StepFailed(
                f"Heroku's release v{release['version']} was still in its release phase after "
                f"{waited}; herokucd stopped waiting for it (Heroku stops a release command "
                "after one hour)."
            )

    def confirm_live(self):
        """Succeed only if Heroku's newest release still runs this deploy's commit and did not
        fail (its release phase): read once more, the commit known unless the release changed."""
        latest = self.client.releases(self.app, limit=1)
        if not latest:
            raise StepFailed("Heroku lists no release of this app.")
        release = latest[0]
        if self.live and release["id"] == self.live[0]:
            commit = self.live[1]
        else:
            commit = self.client.release_commit(self.app, release)
        if release.get("status") == "pending":  # a newer release, in its release phase
            release = self.await_release(release)
        if release.get("status") == "failed":
            raise StepFailed(_failed_release(release, commit))
        if commit != self.deploy.sha:
            raise StepFailed(
                f"{_release_words(release, commit).capitalize()} is live now, not this "
                f"deploy's commit {self.deploy.short_sha}: the app was released by something "
                "else during the deploy."
            )

    def migrate(self):
        if "migrate" not in self.planned:
            return
        command = self.environment.migration_command
        with self.step("migrate"):
            self.save(ran_migration=True)
            timeout = self.environment.migration_timeout
            self.migration = {"outcome": "running"}  # until it ends: a worker may die meanwhile
            try:
                status = self.client.run_attached(
                    self.app, command, self.writer.write, timeout, cancel_event=self.cancel_event
                )
            except DynoTimeout as error:
                self.migration = {"outcome": "timed_out", "timeout": timeout}
                raise StepFailed(f"The migration timed out: {error}") from None
            except DynoError as error:
                if isinstance(error, DynoCanceled):
                    self.migration = {"outcome": "canceled"}
                    raise
                self.migration = {"outcome": "error", "error": str(error)}
                raise StepFailed(f"The migration failed: {error}") from None
            self.migration = {"outcome": "exited", "exit_status": status}
            if status != 0:
                raise StepFailed(f"The migration exited with status {status}.", status)

    @property
    def migration_failed(self) -> bool:
        return self.migration.get("outcome") in ("timed_out", "error") or bool(
            self.migration.get("exit_status")
        )

    def scale_back(self):
        previous = self.deploy.cleanup_state.get("formation")
        if not previous:
            self.skip("scale_back")  # no process type to scale was there
        else:
            with self.step("scale_back"):
                self.client.scale(self.app, previous)
                self.forget("formation")
                self.writer.system(f"Scaled back to {quantities(previous)}.")

    def maintenance_off(self):
        if not self.deploy.cleanup_state.get("maintenance"):
            self.skip("maintenance_off")  # it was on before the deploy: it stays on
        else:
            with self.step("maintenance_off"):
                self.client.set_maintenance(self.app, False)
                self.forget("maintenance")

    def cache_flush(self):
        if "cache_flush" not in self.planned:
            return
        kind = self.environment.cache_flush
        names = Environment.split_names(self.environment.cache_config_vars)
        with self.step("cache_flush"):
            values = self.app_config_vars()
            for name in names:
                try:
                    cache = cache_of(kind, name, values)
                    cache.flush()
                except FlushFailed as error:
                    raise StepFailed(str(error)) from None
                self.writer.system(f"Flushed the cache at {name}{cache.how}.")

    def health_check(self):
        env = self.environment
        # A URL or an expected text turns the check on; an empty URL means the app's web URL.
        if "health_check" not in self.planned:
            return
        with self.step("health_check"):
            url = env.health_check_target or self.app_web_url()
            problem = None
            for attempt in range(env.health_check_retries + 1):
                if attempt:
                    self.sleep(env.health_check_delay)
                try:
                    problem = check_health(url, env.health_check_status, env.health_check_text)
                except http.Refused as refused:
                    self.writer.system(str(refused))
                    raise StepFailed(str(refused)) from None
                self.writer.system(f"GET {http.masked(url)}: {problem or 'healthy'}")
                if not problem:
                    return
            raise StepFailed(f"The health check failed: {problem}")

    def app_web_url(self) -> str:
        """The app's web URL as Heroku reports it now, kept on the environment for its pages."""
        url = self.client.app(self.app).get("web_url") or ""
        if url and url != self.environment.web_url and self.environment.app_name == self.app:
            self.environment.web_url = url
            self.environment.save(update_fields=["web_url"])
        return url

    def rollback_release(self):
        """Put back the chosen release (`rollback_release_id`); a rollback queued before targets
        were chosen puts back the release that was live before the deploy it undoes."""
        deploy, undone = self.deploy, self.deploy.rollback_of
        target = deploy.rollback_release_id or (undone.previous_release_id if undone else "")
        if deploy.rollback_version:
            title = f"Roll back to v{deploy.rollback_version}"
        else:
            title = f"Roll back deploy #{undone.number}" if undone else "Roll back"
        with self.step("rollback", title):
            if not target:
                raise StepFailed("This rollback names no Heroku release to put back.")
            before = self.client.releases(self.app, limit=1)
            self.save(previous_release_id=before[0]["id"] if before else "")
            release = self.new_release = self.client.rollback(self.app, target)
            self.save(release_version=release["version"])
            self.writer.system(f"Heroku release v{release['version']}: {release['description']}")

    # -- outcome and cleanup -----------------------------------------------------------------

    def failure(self, error):
        if isinstance(error, CANCELED) or self.cancel_event.is_set():
            self.outcome = (State.CANCELED, self._cancel_reason())
        else:
            self.outcome = (State.FAILED, reason_for(error))
            self.writer.system(f"Failed: {self.outcome[1]}")
        if self.outcome[0] == State.FAILED and self._auto_rollback_due():
            self.auto_rollback()

    def _auto_rollback_due(self):
        failed = self.deploy.steps.filter(state=StepState.FAILED).values_list("name", flat=True)
        return (
            self.environment.auto_rollback
            and "health_check" in failed
            and bool(self.deploy.previous_release_id)
        )

    def auto_rollback(self):
        try:
            with self.step("rollback", "Automatic rollback"):
                release = self.client.rollback(self.app, self.deploy.previous_release_id)
                self.writer.system(f"Rolled back: Heroku release v{release['version']}.")
                if release.get("status") == "pending":
                    self.writer.system("Waiting for its release phase.")
                    release = self.await_release(release)
                if release.get("status") != "succeeded":
                    raise StepFailed(
                        f"Heroku's release v{release['version']} failed its release phase, so "
                        "it is not live."
                    )
            self.outcome = (State.FAILED, f"{self.outcome[1]} Rolled back automatically.")
        except Exception as error:
            self.outcome = (
                State.FAILED,
                f"{self.outcome[1]} Automatic rollback failed: {reason_for(error)}",
            )

    def _cancel_reason(self):
        reason = Deploy.objects.filter(pk=self.deploy.pk).values_list("reason", flat=True)
        return reason.first() or "Canceled."

    def finish(self):
        self.cleanup()
        state, reason = self.outcome
        if state in (State.FAILED, State.CANCELED):
            self.record_end_state()
        if state != State.QUEUED:
            self.close_planned_steps(state)
        self.resources.close()
        self.heartbeat.stop()
        if state == State.SUCCEEDED and self.environment.auto_promote:
            self.auto_promote()
        if state != State.QUEUED:
            self.writer.system(f"Deploy {state.label.lower()}.")
        self.writer.close()
        self.client.close()
        if state != State.QUEUED:
            finish_deploy(self.deploy, state, self.writer.redact(reason))

    def cleanup(self):
        """Undo what the deploy changed on the app, whatever happened before."""
        if not self.deploy.cleanup_state:
            return
        keep = self.migration_failed and self.environment.keep_maintenance_after_failed_migration
        with self.step("cleanup", "Clean up", fail_silently=True):
            problems = undo_changes(self.deploy, self.client, self.writer, keep_maintenance=keep)
            if problems:
                state, reason = self.outcome
                left = "; ".join(problems)
                self.outcome = (
                    State.FAILED if state == State.SUCCEEDED else state,
                    f"{reason} Cleanup failed: {left}".strip(),
                )
                raise StepFailed(left)

    def auto_promote(self):
        """The environment promotes a healthy deploy to the next one: queued now, while the
        log is open to say so (the promotion is a deploy of its own)."""
        from deploys.promotion import auto_promote  # it queues deploys: a cycle

        if self.deploy.trigger == Trigger.ROLLBACK:
            self.writer.system("Auto-promote: a rollback is not promoted.")
            return
        if "health_check" not in self.planned:
            self.writer.system(
                "Auto-promote: not promoted, as this environment has no health check to tell "
                "that the deploy is healthy."
            )
            return
        try:
            auto_promote(self.deploy, self.writer)
        except Exception as error:  # the deploy succeeded: this must not change that
            log.error("Auto-promote failed", exc_info=error)
            self.writer.system(f"Auto-promote: not promoted ({reason_for(error)}).")

    def record_end_state(self):
        """What the app runs now, as Heroku says after the cleanup, for the deploy's page."""
        made = self.live[0] if self.live else ""  # "": it made no release that went live
        state = end_state(self.client, self.deploy, self.migration_state(), made)
        if self.release_phase:
            state["release_phase"] = self.release_phase
        self.save(end_state=state)

    def migration_state(self) -> dict:
        if "migrate" not in self.planned:
            return {"planned": False}
        if not self.deploy.ran_migration:
            return {"planned": True, "ran": False}
        return {"planned": True, "ran": True, **self.migration}

    def close_planned_steps(self, state):
        """A finished deploy leaves no step queued: those not reached were skipped (canceled)."""
        left = list(self.pending.values())
        for step in left:
            step.state = StepState.CANCELED if state == State.CANCELED else StepState.SKIPPED
        DeployStep.objects.bulk_update(left, ["state"])
        self.pending = {}

    def skip(self, name, title=None):
        """Step `name` will not run; `title`, when given, says why on the page."""
        step = self.pending.pop(name, None)
        if step is not None:
            step.state = StepState.SKIPPED
            step.title = title or step.title
            step.save(update_fields=["state", "title"])

    def defer(self, defer):
        """Put the deploy back in the queue until Heroku's git rate limit allows a push."""
        self.outcome = (State.QUEUED, "")
        self.writer.system(f"Waiting for Heroku's git rate limit until {defer.until:%H:%M}")
        self.deploy.defer()
        return defer

    # -- helpers ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def step(self, name, title=None, fail_silently=False):
        """A step of the log: its header, its state, its outcome; titled as planned unless
        `title` says otherwise."""
        title = title or self.planned.get(name) or name
        if self.cancel_event.is_set() and name != "cleanup":
            raise Canceled
        step = self._new_step(name, title)
        try:
            yield step
        except BaseException as error:
            canceled = isinstance(error, CANCELED) or self.cancel_event.is_set()
            step.state = StepState.CANCELED if canceled else StepState.FAILED
            step.exit_status = getattr(error, "exit_status", None)
            if fail_silently:
                self.writer.system(f"{title} failed: {reason_for(error)}")
                return
            raise
        else:
            step.state = StepState.SUCCEEDED
        finally:
            step.finished_at = timezone.now()
            step.save(update_fields=["state", "exit_status", "finished_at"])

    def _new_step(self, name, title):
        """The planned row of step `name`, started; a step nobody planned (cleanup, automatic
        rollback) is added after the others."""
        step = self.pending.pop(name, None)
        if step is None:
            self.step_count += 1
            step = DeployStep(deploy=self.deploy, position=self.step_count, name=name)
        step.title, step.state, step.started_at = title, StepState.RUNNING, timezone.now()
        # Lines keep the step they were written in: nothing to store before moving on.
        step.first_line = self.writer.line_count + 1
        step.save()
        self.writer.step = step.position
        self.writer.system(title)
        return step

    def save(self, **fields):
        self.deploy.record(**fields)

    def remember(self, **changes):
        self.deploy.keep_cleanup_state({**self.deploy.cleanup_state, **changes})

    def forget(self, name):
        kept = {k: v for k, v in self.deploy.cleanup_state.items() if k != name}
        self.deploy.keep_cleanup_state(kept)

    def meanwhile(self, call, *args, **kwargs) -> Future:
        """`call` on the deploy's Heroku thread while this one goes on with git or the database;
        wait for it before the next call on the client (its session serves one call at a time)."""
        if self.pool is None:
            self.pool = ThreadPoolExecutor(1, thread_name_prefix="deploy-heroku")
            self.resources.callback(self.pool.shutdown, wait=False, cancel_futures=True)
        return self.pool.submit(call, *args, **kwargs)

    def app_config_vars(self):
        if self.config_vars is None:
            self.config_vars = self.client.config_vars(self.app)
        return self.config_vars

    def _stop_if_canceled(self, *_):
        if self.cancel_event.is_set():
            raise Canceled

    def sleep(self, seconds):
        if self.cancel_event.wait(seconds):
            raise Canceled


RELEASES_SEARCHED = 100  # how far back "Release it again" looks for a build of the commit


def commands_of(text) -> list[str]:
    """The commands of an environment's command text: one per non-blank line, trimmed."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def _release_words(release, commit) -> str:
    """release v12 (commit abc1234)"""
    return f"release v{release['version']}" + (f" (commit {commit[:7]})" if commit else "")


def _failed_release(release, commit) -> str:
    return (
        f"Heroku's {_release_words(release, commit)} failed (its release command failed), so "
        "the release before it stays live."
    )


def last_good(deploy, live) -> dict | None:
    """The environment's last succeeded deploy before `deploy`, and whether what it released is
    the live release (then rolling back to it changes nothing)."""
    found = (
        Deploy.objects.filter(
            environment_id=deploy.environment_id,
            state=State.SUCCEEDED,
            number__lt=deploy.number,
            release_version__isnull=False,
        )
        .order_by("-number")
        .values("number", "sha", "release_version")
        .first()
    )
    if found is None:
        return None
    live = live or {}
    found["live"] = live.get("version") == found["release_version"] or bool(
        found["sha"] and live.get("commit") == found["sha"]
    )
    return found


def finish_deploy(deploy, state, reason):
    """Record the end, unless somebody ended it already or the reaper took it over (it judged
    this worker dead: it cleans up, fails the deploy and frees the app itself)."""
    if deploy.finish(state, reason, this_worker()):
        notifications.deploy_ended(deploy)


def reason_for(error) -> str:
    if isinstance(error, StepFailed | runners.CommandFailed | HerokuError):
        return str(error)
    if type(error).__name__ == "JobTimeoutException":
        return "The deploy ran past its time limit and was stopped."
    log.error("Deploy failed with an unexpected error", exc_info=error)
    return f"herokucd hit an unexpected error ({type(error).__name__}); see the worker's log."
