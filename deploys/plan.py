"""A dry run of a deploy: what a deploy of an environment would do now, changing nothing.

`make(environment, ...)` answers from the pipeline's own list (`pipeline.planned_steps`, the
one place that decides which steps run), the environment's options, the local mirror, the git
rate-limit ledger, the gates (`gates.check`, which only reads) and a few Heroku GETs (the app,
its formation, add-ons and config var names). It makes no git request, writes nothing to
Heroku and nothing to the database; config var values are read to learn their names only and
are dropped at once.
"""

from dataclasses import dataclass, field

from deploys import gates, manual, mirror, outgoing, pipeline, ratelimit
from deploys.cache_flush import credential_names
from deploys.models import Trigger
from herokucd import http
from herokucd.heroku import HerokuClient, HerokuError
from projects.models import SASL_CACHES, CacheFlush, DeployMethod, Environment
from projects.models import MaintenanceMode as Mode

POSTGRES = "heroku-postgresql"


@dataclass
class Step:
    name: str
    title: str  # the pipeline's own title (pipeline.planned_steps)
    words: str  # as the Deploy confirmation says it
    settings: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Heroku:
    """What the plan read from Heroku; `problem` when it could not read it."""

    formation: dict[str, int] | None = None
    addons: list[str] | None = None
    config_var_names: set[str] | None = None
    problem: str = ""


@dataclass
class Plan:
    environment: Environment
    ref: str  # the branch or commit asked for
    sha: str  # the commit that would be deployed ("" when the mirror does not know it)
    live_commit: str  # what runs on the app now, as last read (deploys/live.py)
    steps: list[Step]
    commits: list  # mirror.Commit, newest first
    commit_count: int
    budget: ratelimit.Budget
    git_requests: int  # what the deploy spends of it
    decision: gates.Decision
    problems: list[str]  # what would make the deploy fail or wait, found now
    notes: list[str]  # what the plan cannot tell, or the deploy skips

    @property
    def remaining_after(self) -> int:
        return max(self.budget.remaining - self.git_requests, 0)

    @property
    def step_names(self) -> list[str]:
        return [step.name for step in self.steps]


def make(environment, *, branch="", sha="", trigger=Trigger.MANUAL, user=None) -> Plan:
    """The plan of a deploy of `environment` (`branch`'s tip, or commit `sha`) started now."""
    project = environment.project
    ref = sha or branch or manual.suggested_ref(environment)
    target = (mirror.has_commit(project, sha) if sha else mirror.branch_tip(project, ref)) or ""
    live = outgoing.live_commit(environment)
    heroku = read_heroku(environment)
    going = outgoing.between(project, live, target) if live and target else None
    commits, count = (going.commits, going.total) if going else ([], 0)
    cost = 0 if environment.deploy_method == DeployMethod.BUILD_API else ratelimit.PUSH_COST
    budget = _budget(environment)
    problems = [heroku.problem] if heroku.problem else []
    problems += _step_problems(environment, heroku) + _budget_problems(budget, cost)
    notes = _mirror_notes(project, ref, target, live, sha) + _skipped(environment, heroku)
    return Plan(
        environment=environment,
        ref=ref,
        sha=target,
        live_commit=live,
        steps=steps(environment, heroku),
        commits=commits,
        commit_count=count,
        budget=budget,
        git_requests=cost,
        decision=gates.check(environment, trigger=trigger, user=user),
        problems=problems,
        notes=notes,
    )


def steps(environment, heroku: Heroku) -> list[Step]:
    names = pipeline.planned_steps(environment)
    return [
        Step(
            name, title, manual._step_words(name, environment), _settings(name, environment, heroku)
        )
        for name, title in names.items()
    ]


def read_heroku(environment) -> Heroku:
    """The app, its formation, add-ons and config var names, with GETs only."""
    credential = getattr(environment.project, "heroku_credential", None)
    if credential is None:
        return Heroku(problem="This project has no Heroku API key: add one in its settings.")
    app = environment.app_name
    try:
        with HerokuClient(credential.api_key, retries=1) as client:  # a person waits
            client.app(app)
            formation = {item["type"]: item["quantity"] for item in client.formation(app)}
            addons = [item["addon_service"]["name"] for item in client.addons(app)]
            names = set(client.config_vars(app))  # the names only: values are dropped here
    except HerokuError as error:
        return Heroku(
            problem=f"Heroku refused to show the app {app} with this project's API key: "
            f"{error} A deploy would fail; fix the key or the app name in the settings."
        )
    return Heroku(formation, addons, names)


def _budget(environment):
    credential = getattr(environment.project, "heroku_credential", None)
    key_hash = credential.key_hash if credential else ""
    return ratelimit.budget(key_hash, environment.app_name, environment=environment)


def _budget_problems(budget, cost) -> list[str]:
    if not cost or budget.remaining >= cost:
        return []
    return [
        "The git rate limit is used up for this app: the deploy would wait in the queue until "
        "Heroku allows another push."
    ]


def _mirror_notes(project, ref, target, live, sha) -> list[str]:
    if not target:
        what = f"commit {sha}" if sha else f"branch {ref}"
        return [
            f"herokucd's copy of the repository does not know the {what} yet: the deploy "
            "fetches first, so what goes out is not listed here."
        ]
    if mirror.is_older(project, target, live):
        return [
            f"{target[:7]} is older than the live commit {live[:7]}: this deploy goes back in "
            "history. Heroku refuses such a push unless the environment's Force push option is on."
        ]
    if not live:
        return [
            "What runs on the app now is not known yet, so the commits going out are not listed."
        ]
    return []


def _step_problems(env, heroku: Heroku) -> list[str]:
    planned = pipeline.planned_steps(env)
    problems = []
    if "backup" in planned and heroku.addons is not None and POSTGRES not in heroku.addons:
        problems.append(
            f"A backup is planned before the migration, but {env.app_name} has no Heroku "
            "Postgres add-on: the backup step would fail."
        )
    if "cache_flush" in planned and heroku.config_var_names is not None:
        missing = [n for n in _cache_vars(env) if n not in heroku.config_var_names]
        if missing:
            problems.append(
                f"The cache flush needs the config var{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)}, which {env.app_name} does not have: the flush would fail."
            )
    return problems


def _skipped(env, heroku: Heroku) -> list[str]:
    if "scale_down" not in pipeline.planned_steps(env) or heroku.formation is None:
        return []
    return [
        f"{env.app_name} has no {kind} process type: the deploy skips it."
        for kind in Environment.split_names(env.scale_down_types)
        if kind not in heroku.formation
    ]


def _cache_vars(env) -> list[str]:
    names = Environment.split_names(env.cache_config_vars)
    if env.cache_flush in SASL_CACHES:
        return [n for name in names for n in (name, *credential_names(name))]
    return names


def _settings(name, env, heroku: Heroku) -> list[tuple[str, str]]:
    return {
        "pre_deploy": lambda: _commands(env.pre_deploy_commands, env.pre_deploy_timeout),
        "post_deploy": lambda: _commands(env.post_deploy_commands, env.post_deploy_timeout),
        "backup": lambda: [("Database", "DATABASE_URL (Heroku Postgres, pg:backups:capture)")],
        "maintenance_on": lambda: _maintenance(env),
        "scale_down": lambda: _scale(env, heroku),
        "push": lambda: [
            ("Method", pipeline.push_title(env)),
            ("Force push", _yes(env.force_push)),
        ],
        "release_phase": lambda: [("Waits at most", f"{pipeline.release_phase_timeout():.0f} s")],
        "migrate": lambda: [
            ("Command", env.migration_command),
            ("Timeout", f"{env.migration_timeout} s"),
        ],
        "cache_flush": lambda: [
            ("Cache", CacheFlush(env.cache_flush).label),
            ("Config vars", ", ".join(_cache_vars(env))),
        ],
        "health_check": lambda: _health(env),
    }.get(name, list)()


def _commands(text, timeout) -> list[tuple[str, str]]:
    found = [("Command", command) for command in pipeline.commands_of(text)]
    return [*found, ("Timeout", f"{timeout} s each")]


def _maintenance(env) -> list[tuple[str, str]]:
    scope = "every deploy" if env.maintenance_mode == Mode.DEPLOY else "deploys with a migration"
    shown = [("Scope", scope)]
    if env.maintenance_page_url:
        shown.append(("Maintenance page", http.masked(env.maintenance_page_url)))
    return shown


def _scale(env, heroku: Heroku) -> list[tuple[str, str]]:
    shown = []
    for kind in Environment.split_names(env.scale_down_types):
        if heroku.formation is None:
            now = "quantity not known"
        elif kind in heroku.formation:
            now = f"{heroku.formation[kind]} now, 0 during the migration"
        else:
            now = "no such process type on the app: skipped"
        shown.append((kind, now))
    return shown


def _health(env) -> list[tuple[str, str]]:
    url = env.shown_health_check_url if env.health_check_url else "the app's web URL"
    shown = [("URL", url), ("Expected status", str(env.health_check_status))]
    if env.health_check_text:
        shown.append(("Expected text", env.health_check_text))
    shown.append(("Retries", f"{env.health_check_retries}, {env.health_check_delay} s apart"))
    shown.append(("Rolls back when it fails", _yes(env.auto_rollback)))
    return shown


def _yes(value) -> str:
    return "yes" if value else "no"


def as_json(plan: Plan) -> dict:
    """The plan as the JSON API answers `?plan=1`."""
    return {
        "plan": True,
        "environment": plan.environment.name,
        "app": plan.environment.app_name,
        "ref": plan.ref,
        "sha": plan.sha or None,
        "live_commit": plan.live_commit or None,
        "steps": [
            {"name": s.name, "title": s.title, "words": s.words, "settings": dict(s.settings)}
            for s in plan.steps
        ],
        "commits": [
            {"sha": c.sha, "subject": c.subject, "author": c.author, "date": c.date.isoformat()}
            for c in plan.commits
        ],
        "commit_count": plan.commit_count,
        "git_rate_limit": {
            "limit": plan.budget.limit,
            "remaining": plan.budget.remaining,
            "spent": plan.git_requests,
            "remaining_after": plan.remaining_after,
        },
        "may_start_now": plan.decision.may_start_now,
        "held": plan.decision.why_not or None,
        "approvals": plan.decision.approvals,
        "problems": plan.problems,
        "notes": plan.notes,
    }
