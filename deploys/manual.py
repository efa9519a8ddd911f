"""What the Deploy form shows about an environment: the branch it suggests, the recent commits
of the project's mirror to pick from, and, before a deploy that asks for confirmation, what
will happen to the Heroku app. Read from the database and the local mirror only: the page
never waits on the network."""

from dataclasses import dataclass
from functools import cached_property

from deploys import mirror, outgoing, pipeline
from deploys.models import Deploy, State
from projects import branches
from projects.models import CacheFlush, DeployMethod, Environment, MaintenanceMode

MAX_BRANCHES = 10  # distinct branches whose recent commits one page lists


def suggested_ref(environment) -> str:
    """The environment's branch when it names one (the project's default branch if it is one
    of several names, else the first); the project's default branch for a /regex/."""
    default = environment.project.default_branch
    names = branches.names(environment.branch)
    if not names or default in names:
        return default
    return names[0]


@dataclass
class CommitList:
    """The recent commits of one branch, as the form lists them."""

    branch: str
    commits: list
    environments: list  # the ids of the environments that suggest this branch


def commit_lists(project, environments) -> list[CommitList]:
    """One list per branch the environments suggest (at most MAX_BRANCHES), [] of commits
    when the mirror is not cloned or lacks the branch."""
    lists: dict[str, CommitList] = {}
    for environment in environments:
        branch = suggested_ref(environment)
        if branch not in lists and len(lists) < MAX_BRANCHES:
            lists[branch] = CommitList(branch, mirror.recent_commits(project, branch), [])
        if branch in lists:
            lists[branch].environments.append(environment.pk)
    return list(lists.values())


@dataclass
class Confirmation:
    """What a deploy that asks first will do, for the confirmation page."""

    environment: Environment
    ref: str  # as typed (or picked): a branch or a commit
    sha: str  # the commit that will be deployed, when the mirror knows it ("" otherwise)
    live: Deploy | None  # the environment's last succeeded deploy
    steps: list[str]
    ref_is_commit: bool = False

    @property
    def unchanged(self) -> list[str]:
        return unchanged(self.environment)

    @property
    def short_sha(self) -> str:
        return self.sha[:7]

    @property
    def what(self) -> str:
        """What the button deploys: the commit when known, else the branch."""
        return self.short_sha or self.ref

    @property
    def is_live(self) -> bool:
        return bool(self.sha and self.live and self.live.sha == self.sha)

    @cached_property
    def outgoing(self):
        """The commits between what is live and `sha` (deploys/outgoing.py)."""
        return outgoing.for_confirmation(self.environment, self.sha)

    @property
    def is_older_than_live(self) -> bool:
        """The commit comes before the live one in the repository's history."""
        live = self.live.sha if self.live else ""
        return bool(self.sha and live) and mirror.is_older(self.environment.project, self.sha, live)


def confirmation(environment, target: dict) -> Confirmation:
    project = environment.project
    if "branch" in target:
        ref = target["branch"]
        sha = mirror.branch_tip(project, ref) or ""
    else:
        ref = target["sha"]
        sha = mirror.has_commit(project, ref) or ""
    live = last_succeeded(environment)
    return Confirmation(environment, ref, sha, live, steps(environment), "branch" not in target)


def last_succeeded(environment) -> Deploy | None:
    deploys = Deploy.objects.filter(environment=environment, state=State.SUCCEEDED)
    return deploys.select_related("triggered_by").order_by("-number").first()


def steps(environment) -> list[str]:
    """The deploy's steps in order, in words: the pipeline's own plan (pipeline.planned_steps)
    for the environment's options, each said as the confirmation page says it."""
    return [_step_words(name, environment) for name in pipeline.planned_steps(environment)]


def promotion_steps(plan) -> list[str]:
    """A promotion's steps in words: the target environment's own, the promotion for the push
    (pipeline.planned_steps with the release it promotes)."""
    env = plan.target
    words = f"release v{plan.release['version']} of {plan.source.app_name}"
    promote = (
        f"Promote {words} to {env.app_name} through the Heroku pipeline "
        f"{plan.pipeline.name}: Heroku copies its build into a new release, nothing is "
        "built or pushed"
    )
    names = pipeline.planned_steps(env, words)
    return [promote if name == "promote" else _step_words(name, env) for name in names]


def _step_words(name, env) -> str:
    scale = ", ".join(Environment.split_names(env.scale_down_types))
    push = "Force push" if env.force_push else "Push"
    rollback = ", rolled back automatically if it fails" if env.auto_rollback else ""
    return {
        "checkout": lambda: "Fetch the repository and check out the commit",
        "pre_deploy": lambda: _commands("pre-deploy", env.pre_deploy_commands),
        "backup": lambda: "Back up the Postgres database",
        "maintenance_on": lambda: (
            "Turn maintenance mode on (the app answers with its maintenance page)"
        ),
        "scale_down": lambda: f"Scale {scale} to 0",
        "push": lambda: (
            "Upload the commit's files with Heroku's Build API: Heroku builds them and "
            "releases them (no git request)"
            if env.deploy_method == DeployMethod.BUILD_API
            else f"{push} the commit to the app's {env.heroku_branch} branch: Heroku "
            "builds it and releases it"
        ),
        "release_phase": lambda: (
            "Wait for Heroku's release phase (the Procfile's release command, if it has one) "
            "and show its output"
        ),
        "migrate": lambda: f"Run the migration in a one-off dyno: {env.migration_command}",
        "scale_back": lambda: f"Scale {scale} back to their quantities before the deploy",
        "maintenance_off": lambda: "Turn maintenance mode off",
        "cache_flush": lambda: f"Flush the cache ({CacheFlush(env.cache_flush).label})",
        "post_deploy": lambda: _commands("post-deploy", env.post_deploy_commands),
        "health_check": lambda: f"Check the app's health{rollback}",
    }[name]()


def unchanged(environment) -> list[str]:
    """What the deploy leaves alone, said plainly beside the steps."""
    env = environment
    notes = []
    if env.maintenance_mode == MaintenanceMode.OFF or (
        env.maintenance_mode == MaintenanceMode.MIGRATIONS and not env.migration_command
    ):
        notes.append("Maintenance mode stays off: the app keeps serving during the deploy.")
    if not (env.scale_down_types.strip() and env.migration_command):
        notes.append("No process type is scaled down.")
    if not env.migration_command:
        notes.append("No migration runs.")
    return notes


def _commands(kind, text) -> str:
    count = len(pipeline.commands_of(text))
    return f"Run {count} {kind} command{'' if count == 1 else 's'} in a sandbox"
