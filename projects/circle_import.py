"""Read the `deployment:` section of a CircleCI 1.0 circle.yml into environment plans.

`parse(text, default_branch)` returns one `Plan` per deployment entry: the Environment field
values it maps to and a note for every line, saying what became of it, so the preview can
explain lines that could not be mapped. Nothing here touches the database or Heroku.
"""

import re
import shlex
from dataclasses import dataclass, field

import yaml

from projects.models import MaintenanceMode

PUSH = re.compile(r"\Agit\s+push\b(?P<args>.*)\Z")
HEROKU = re.compile(r"\Aheroku\s+(?P<sub>[\w:-]+)(?P<rest>.*)\Z")
REMOTE_APP = re.compile(r"heroku\.com[:/](?P<app>[a-z][a-z0-9-]*)\.git\Z")
NETRC = re.compile(r"\.netrc|HEROKU_TOKEN|HEROKU_EMAIL|HEROKU_API_KEY")
MIGRATION_WORDS = re.compile(r"\bmigrat")


class CircleImportError(Exception):
    """The pasted text cannot be imported at all; str() says why and what to do."""


@dataclass
class Plan:
    name: str
    values: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    problems: list = field(default_factory=list)


def parse(text: str, default_branch: str) -> list[Plan]:
    deployment = _deployment_section(text)
    return [_plan(str(name), entry, default_branch) for name, entry in deployment.items()]


def _deployment_section(text):
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" near line {where.line + 1}" if where else ""
        raise CircleImportError(
            f"This is not valid YAML{line}: {getattr(error, 'problem', error)}. "
            "Paste the whole circle.yml as it is in your repository."
        ) from None
    section = document.get("deployment") if isinstance(document, dict) else None
    if not isinstance(section, dict) or not section:
        raise CircleImportError(
            "This circle.yml has no deployment: section with environments in it, so there "
            "is nothing to import. herokucd reads CircleCI 1.0's deployment: section."
        )
    return section


def _plan(name, entry, default_branch):
    plan = Plan(name)
    if not isinstance(entry, dict):
        plan.problems.append(f"{name} is not a mapping of branch, heroku and commands.")
        return plan
    _read_branch(plan, entry, default_branch)
    _read_heroku(plan, entry.get("heroku"))
    _Commands(plan).read(entry.get("commands") or [])
    for key in sorted(set(entry) - {"branch", "heroku", "commands"}):
        plan.notes.append(f"Not imported: {key}: herokucd has no equivalent.")
    if not plan.values.get("app_name"):
        plan.problems.append(
            f"No Heroku app name found for {name}: add heroku: appname: or a git push to it."
        )
    return plan


def _read_branch(plan, entry, default_branch):
    branch = entry.get("branch")
    if isinstance(branch, list):
        plan.values["branch"] = ", ".join(str(b) for b in branch)
    elif branch:
        plan.values["branch"] = str(branch)
    else:
        plan.values["branch"] = default_branch
        plan.notes.append(f"No branch: given; using the project's default branch {default_branch}.")


def _read_heroku(plan, heroku):
    if not heroku:
        return
    if isinstance(heroku, dict) and heroku.get("appname"):
        plan.values["app_name"] = str(heroku["appname"])
        # CircleCI 1.0's Heroku deploy pushed the build to master.
        plan.values["heroku_branch"] = "master"
        plan.notes.append(f"heroku: appname: {heroku['appname']} → deploys to that app.")
    else:
        plan.problems.append("heroku: must hold appname: <your app>.")


class _Commands:
    """Walks the commands in order; which side of the git push a command is on matters."""

    def __init__(self, plan):
        self.plan, self.pushed, self.pre, self.post = plan, False, [], []

    def read(self, commands):
        for item in commands:
            command, timeout = _command_and_timeout(item)
            if command is None:
                self.plan.notes.append(f"Could not read this command: {item!r}.")
                continue
            self.one(command.strip(), timeout)
        self._store_custom()

    def one(self, command, timeout):
        if NETRC.search(command):
            return self.note(command, "dropped: herokucd authenticates with the stored API key.")
        if "git fetch --unshallow" in command:
            return self.note(command, "dropped: herokucd pushes from a full clone.")
        if push := PUSH.match(command):
            return self.push(command, push["args"])
        if heroku := HEROKU.match(command):
            return self.heroku(command, heroku["sub"], heroku["rest"], timeout)
        self.custom(command, timeout)

    def note(self, command, what):
        self.plan.notes.append(f"{command} → {what}")

    def push(self, command, args):
        words = _split(args)
        flags = [w for w in words if w.startswith("-")]
        remote, refspec = ([w for w in words if not w.startswith("-")] + ["", ""])[:2]
        self._set_app(REMOTE_APP.search(remote) and REMOTE_APP.search(remote)["app"])
        target = refspec.split(":")[-1].removeprefix("refs/heads/")
        if target in ("main", "master"):
            self.plan.values["heroku_branch"] = target
        force = refspec.startswith("+") or {"-f", "--force"} & set(flags)
        self.plan.values["force_push"] = bool(force)
        self.pushed = True
        self.note(command, f"the deploy's git push to {target or 'main'} over HTTPS.")

    def heroku(self, command, sub, rest, timeout):
        words, app = _without_app(_split(rest))
        self._set_app(app)
        handler = {
            "maintenance:on": self.maintenance_on,
            "maintenance:off": self.maintenance_off,
            "scale": self.scale,
            "ps:scale": self.scale,
            "run": self.run,
        }.get(sub)
        if handler is None:
            return self.custom(command, timeout)
        handler(command, words, timeout)

    def maintenance_on(self, command, words, timeout):
        mode = MaintenanceMode.MIGRATIONS if self.pushed else MaintenanceMode.DEPLOY
        self.plan.values["maintenance_mode"] = mode.value
        self.note(command, f"maintenance mode: {mode.label.lower()}.")

    def maintenance_off(self, command, words, timeout):
        self.note(command, "herokucd turns maintenance mode off itself.")

    def scale(self, command, words, timeout):
        down = [w.split("=")[0] for w in words if w.endswith("=0")]
        if down:
            types = _merge(self.plan.values.get("scale_down_types", ""), down)
            self.plan.values["scale_down_types"] = types
            return self.note(command, f"scale {', '.join(down)} to 0 during migrations.")
        self.note(command, "herokucd scales process types back to their previous counts.")

    def run(self, command, words, timeout):
        words = [w for w in words if w not in ("--exit-code", "-x")]
        text = shlex.join(words)
        first_migration = "migration_command" not in self.plan.values
        if self.pushed and first_migration and MIGRATION_WORDS.search(text):
            self.plan.values["migration_command"] = text
            if timeout:
                self.plan.values["migration_timeout"] = timeout
            return self.note(command, f"migration command {text} (timeout {timeout or 400} s).")
        self.custom(text, timeout, prefix="heroku run ")

    def custom(self, command, timeout, prefix=""):
        side = self.post if self.pushed else self.pre
        side.append((prefix + command, timeout))
        when = "post-deploy" if self.pushed else "pre-deploy"
        self.note(prefix + command, f"kept as a custom {when} command.")

    def _set_app(self, app):
        if not app:
            return
        current = self.plan.values.get("app_name")
        if current and current != app:
            self.plan.problems.append(f"Commands name two apps, {current} and {app}.")
        self.plan.values["app_name"] = app

    def _store_custom(self):
        for side, commands in (("pre_deploy", self.pre), ("post_deploy", self.post)):
            if commands:
                self.plan.values[f"{side}_commands"] = "\n".join(c for c, _ in commands)
                timeouts = [t for _, t in commands if t]
                if timeouts:
                    self.plan.values[f"{side}_timeout"] = max(timeouts)


def _command_and_timeout(item):
    """A command is a string, or CircleCI's `- <command>: {timeout: N}` mapping."""
    if isinstance(item, str):
        return item, None
    if isinstance(item, dict) and len(item) == 1:
        command, options = next(iter(item.items()))
        timeout = options.get("timeout") if isinstance(options, dict) else None
        return str(command), int(timeout) if isinstance(timeout, int) else None
    return None, None


def _split(text):
    """Shell words; plain whitespace splitting when the quoting is unbalanced."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _without_app(words):
    """The words without --app/-a and its value, and that value."""
    app, kept, skip = None, [], False
    for i, word in enumerate(words):
        if skip:
            skip = False
        elif word in ("--app", "-a") and i + 1 < len(words):
            app, skip = words[i + 1], True
        elif word.startswith("--app="):
            app = word.split("=", 1)[1]
        else:
            kept.append(word)
    return kept, app


def _merge(existing, names):
    current = [n.strip() for n in existing.split(",") if n.strip()]
    return ", ".join(current + [n for n in names if n not in current])
