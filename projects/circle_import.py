"""Read the `deployment:` section of a CircleCI 1.0 circle.yml into environment plans.

`parse(text, default_branch)` returns a `Parsed`: one `Plan` per deployment entry that is an
environment (its name, branch, app, the Environment field values, and every line with how it
will run) and a `Skipped` for each entry that is not, with the reason. Nothing here touches the
database or Heroku.

The YAML is read within bounds (size, aliases, depth, one document) and refused before any
expansion: PyYAML expands aliases when it builds Python objects, so a few hundred bytes of nested
aliases ("billion laughs") would otherwise become millions of characters for the code below.
"""

import re
import shlex
from dataclasses import dataclass, field

import yaml

from projects.models import Environment, MaintenanceMode

MAX_BYTES = 64 * 1024
MAX_ALIASES = 20
MAX_DEPTH = 20
MAX_TIMEOUT = 86_400  # a day: Heroku's longest one-off dyno, far past any deploy command

PUSH = re.compile(r"\Agit\s+push\b(?P<args>.*)\Z")
HEROKU = re.compile(r"\Aheroku\s+(?P<sub>[\w:-]+)(?P<rest>.*)\Z")
REMOTE_APP = re.compile(r"heroku\.com[:/](?P<app>[\w-]+)\.git\Z")
NETRC = re.compile(r"\.netrc|HEROKU_TOKEN|HEROKU_EMAIL|HEROKU_API_KEY")
MIGRATION_WORDS = re.compile(r"\bmigrat")
CIRCLE_VARIABLE = re.compile(r"\$\{?(CIRCLE_\w+)")
SHELL_OPERATORS = re.compile(r"&&|\|\||[;|&<>`]|\$\(")
ENVIRONMENT_KEYS = {"branch", "tag", "owner", "heroku", "commands"}
# `heroku run` flags: those that only change how the CLI waits, and those that change the dyno.
MODIFIERS = {"timeout", "pwd", "environment", "parallel", "files", "background"}
RUN_SWITCHES = {"--exit-code", "-x", "--no-tty", "--no-notify"}
RUN_OPTIONS = {"--size", "-s", "--env", "-e", "--type", "--remote", "-r"}
BACKUP = {"pg:backups:capture", "pg:backups capture"}


class CircleImportError(Exception):
    """The pasted text cannot be imported at all; str() says why and what to do."""


@dataclass
class Line:
    """One line of a deployment entry as written, and how herokucd will run it (or why not)."""

    source: str
    how: str


@dataclass
class Plan:
    """An environment to create: `values` are Environment field values."""

    name: str
    values: dict = field(default_factory=dict)
    lines: list[Line] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # What the import view noticed that does not stop the import (a branch the repository lacks).
    warnings: list[str] = field(default_factory=list)
    # Heroku's answer for the app, filled in by the import view: the Environment checked, in words.
    app_check: object = None
    app_check_text: str = ""

    @property
    def app(self) -> str:
        return self.values.get("app_name", "")

    @property
    def branch(self) -> str:
        return self.values.get("branch", "")

    def line(self, source, how):
        self.lines.append(Line(_short(source), how))


@dataclass
class Skipped:
    """A deployment entry that is not an environment herokucd can create."""

    name: str
    reason: str


@dataclass
class Parsed:
    plans: list[Plan]
    skipped: list[Skipped]


class _Skip(Exception):
    """Raised while reading an entry that turns out not to be an environment."""


def parse(text: str, default_branch: str) -> Parsed:
    parsed = Parsed([], [])
    for name, entry in _deployment_section(text).items():
        name = _short(str(name), 80)
        try:
            parsed.plans.append(_plan(name, entry, default_branch))
        except _Skip as skip:
            parsed.skipped.append(Skipped(name, str(skip)))
    return parsed


# -- Reading the YAML within bounds -----------------------------------------------------------


# libyaml when PyYAML was built with it: the same YAML, read ten times faster.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str):
    """The one YAML document in `text`, read within MAX_BYTES, MAX_ALIASES and MAX_DEPTH.

    The events are walked first: they show every alias and nesting level before anything is
    composed or built, so a document over the limits is refused without being expanded."""
    _check_size(text)
    try:
        _check_events(yaml.parse(text, Loader=LOADER))
        return yaml.load(text, Loader=LOADER)  # noqa: S506 (LOADER is a safe loader)
    except yaml.YAMLError as error:
        raise CircleImportError(_yaml_error(error)) from None
    except ValueError:
        # Raised while building values: a date such as 2020-02-30, a number of 5,000 digits.
        raise CircleImportError(
            "This YAML holds a value that cannot be read as what it looks like (a date that "
            "does not exist, or a number thousands of digits long). Quote it to make it text."
        ) from None


def _check_size(text):
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise CircleImportError(
            "This is not a circle.yml: it holds characters that are not text (is it a binary "
            "file?). Paste the text of circle.yml."
        ) from None
    if size > MAX_BYTES:
        raise CircleImportError(
            f"This text is {size:,} bytes; herokucd reads a circle.yml of up to {MAX_BYTES:,} "
            "bytes. Paste only the deployment: section if the whole file is larger."
        )


def _check_events(events):
    aliases = depth = documents = 0
    for event in events:
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise CircleImportError(
                    f"This YAML uses more than {MAX_ALIASES} aliases (*name), so it was not "
                    "read: aliases can make a small file expand enormously. Write the repeated "
                    "parts out, or paste only the deployment: section."
                )
        elif isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise CircleImportError(
                    f"This YAML is nested more than {MAX_DEPTH} levels deep, which no "
                    "circle.yml needs, so it was not read. Paste the circle.yml from your "
                    "repository."
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise CircleImportError(
                    "This text holds more than one YAML document (separated by ---). Paste "
                    "only the circle.yml document with the deployment: section."
                )


def _yaml_error(error):
    if isinstance(error, yaml.reader.ReaderError):
        return (
            f"This is not a circle.yml: it holds the character U+{error.character:04X}, "
            "which YAML does not allow (is it a binary file?). Paste the text of circle.yml."
        )
    where = getattr(error, "problem_mark", None)
    line = f" near line {where.line + 1}" if where else ""
    problem = getattr(error, "problem", None) or "it cannot be read"
    return (
        f"This is not valid YAML{line}: {problem}. "
        "Paste the whole circle.yml as it is in your repository."
    )


def _deployment_section(text):
    document = load(text)
    if not isinstance(document, dict):
        raise CircleImportError(
            f"This text has no deployment: section: its top level is {_kind(document)}, where "
            "a circle.yml has a mapping of sections (machine:, test:, deployment:). Paste the "
            "whole circle.yml."
        )
    section = document.get("deployment")
    if section is not None and not isinstance(section, dict):
        raise CircleImportError(
            f"deployment: is {_kind(section)} here; CircleCI 1.0 expects a mapping of "
            "environments (production:, staging:) each with branch:, heroku: and commands:."
        )
    if not section:
        raise CircleImportError(
            "This circle.yml has no deployment: section with environments in it, so there "
            "is nothing to import. herokucd reads CircleCI 1.0's deployment: section."
        )
    return section


# -- One deployment entry ---------------------------------------------------------------------


def _plan(name, entry, default_branch):
    _check_is_environment(name, entry)
    plan = Plan(name)
    _read_branch(plan, entry, default_branch)
    _read_heroku(plan, entry.get("heroku"))
    _Commands(plan).read(_commands_of(entry))
    _read_other_keys(plan, entry)
    if not plan.app and plan.problems:
        plan.problems.append(f"No Heroku app name found for {name}: add heroku: appname: <app>.")
    elif not plan.app:
        raise _Skip(
            "No Heroku app name found: it has no heroku: appname: and no git push to a Heroku "
            "app, so herokucd cannot tell where it deploys. Add heroku: appname: <app> to "
            "import it."
        )
    return plan


def _check_is_environment(name, entry):
    if name in ("pre", "override", "post"):
        raise _Skip(
            f"Not an environment: CircleCI 1.0's deployment: section has no {name}: (only the "
            "other sections do), so these commands never ran as a deploy. Move the ones you "
            "need into an environment's commands: list."
        )
    if not isinstance(entry, dict):
        raise _Skip(
            f"Not an environment: it is {_kind(entry)}, where an environment is a mapping "
            "with branch:, heroku: and commands:."
        )
    if not ENVIRONMENT_KEYS & set(entry):
        raise _Skip("Not an environment: it has none of branch:, tag:, heroku: or commands:.")
    if "tag" in entry and "branch" not in entry:
        raise _Skip(
            "It deploys tags (tag:), and herokucd deploys branches: add this environment "
            "by hand with the branch your releases are on."
        )


def _commands_of(entry):
    commands = entry.get("commands")
    if commands is None:
        return []
    if isinstance(commands, str):
        return [commands]
    if not isinstance(commands, list):
        raise _Skip(
            f"commands: is {_kind(commands)}; it must be a list of commands (CircleCI 1.0 "
            "refuses it too, with “commands must be a list”)."
        )
    return commands


def _read_branch(plan, entry, default_branch):
    branch = entry.get("branch")
    names = branch if isinstance(branch, list) else [branch]
    if branch in (None, "", []):
        plan.values["branch"] = default_branch
        plan.line("branch:", f"none given: the project's default branch {default_branch}.")
    elif all(isinstance(b, (str, int, float)) and not isinstance(b, bool) for b in names):
        plan.values["branch"] = ", ".join(str(b) for b in names)
        plan.line(f"branch: {plan.branch}", f"deploys pushes to {plan.branch}.")
    else:
        plan.problems.append(
            f"branch: is {_shape(branch)}; give a branch name, a /regex/ or a list of names."
        )


def _read_heroku(plan, heroku):
    if heroku is None:
        return
    appname = heroku.get("appname") if isinstance(heroku, dict) else None
    if not isinstance(appname, str) or not appname:
        plan.problems.append("heroku: must hold appname: <your app>.")
        return
    plan.values["app_name"] = appname
    # CircleCI 1.0's Heroku deploy pushed the build to master.
    plan.values["heroku_branch"] = "master"
    plan.line(f"heroku: appname: {appname}", "deploys to that app.")


def _read_other_keys(plan, entry):
    if "owner" in entry:
        plan.line(
            f"owner: {_shape(entry['owner'])}",
            "not needed: herokucd deploys only this project's repository.",
        )
    if "tag" in entry:
        plan.line(f"tag: {_shape(entry['tag'])}", "not imported: herokucd deploys branches.")
    for key in sorted({str(k) for k in entry} - ENVIRONMENT_KEYS):
        plan.line(f"{key}:", "not imported: herokucd has no equivalent.")


# -- Commands ---------------------------------------------------------------------------------


@dataclass
class _Custom:
    """A command kept as a custom pre- or post-deploy command; its line is told at the end,
    once the step's timeout (the largest of its commands') is known."""

    command: str
    timeout: int | None
    line: Line
    notes: list
    add_app: bool = False
    backup: bool = False  # a database backup: the backup option if a migration follows


class _Commands:
    """Walks the commands in order; which side of the git push a command is on matters."""

    def __init__(self, plan):
        self.plan, self.pushed, self.migrated = plan, False, False
        self.custom_commands = {"pre_deploy": [], "post_deploy": []}

    def read(self, commands):
        for item in commands:
            self.item(item)
        self._store_custom()

    def item(self, item):
        try:
            command, modifiers = _command_and_modifiers(item)
        except _Skip as skip:
            return self.plan.line(_source_of(item), f"skipped: {skip}")
        timeout, notes = _timeout(modifiers)
        if modifiers.get("background"):
            how = "skipped: background: herokucd runs a step's commands one after another."
            return self.plan.line(command, how)
        self.one(command, timeout, _with_modifiers(command, modifiers), notes)

    def one(self, source, timeout, command, notes):
        if NETRC.search(command):
            return self.note(source, "dropped: herokucd authenticates with the stored API key.")
        if "git fetch --unshallow" in command:
            return self.note(source, "dropped: herokucd pushes from a full clone.")
        if SHELL_OPERATORS.search(command):
            return self.chain(source, command, timeout, notes)
        if (push := PUSH.match(command)) and self.push(source, push["args"]):
            return None
        if heroku := HEROKU.match(command):
            return self.heroku(command, heroku["sub"], heroku["rest"], timeout, notes)
        self.custom(source, command, timeout, notes)

    def chain(self, source, command, timeout, notes):
        """Several shell commands in one line are kept whole, unless one is the push."""
        if re.search(r"\bgit\s+push\b[^;&|]*heroku", command):
            return self.note(
                source,
                "skipped: it pushes to Heroku among other commands; herokucd does the push "
                "itself, so write the other commands on lines of their own.",
            )
        self.custom(source, command, timeout, notes)

    def note(self, source, how):
        self.plan.line(source, how)

    def push(self, source, args):
        """The deploy's own push when it goes to Heroku; False for a push elsewhere."""
        words = _split(args)
        flags = [w for w in words if w.startswith("-")]
        remote, refspec = ([w for w in words if not w.startswith("-")] + ["", ""])[:2]
        if remote != "heroku" and "heroku.com" not in remote:
            return False
        self._set_app(REMOTE_APP.search(remote) and REMOTE_APP.search(remote)["app"])
        target = refspec.split(":")[-1].removeprefix("+").removeprefix("refs/heads/")
        if target in ("main", "master"):
            self.plan.values["heroku_branch"] = target
        force = refspec.startswith("+") or {"-f", "--force"} & set(flags)
        self.plan.values["force_push"] = bool(force)
        self.pushed = True
        branch = self.plan.values.get("heroku_branch", "main")
        self.note(source, f"skipped: git push is what herokucd does (to {branch}, over HTTPS).")
        return True

    def heroku(self, source, sub, rest, timeout, notes):
        words, app = _without_app(_split(rest))
        self._set_app(app)
        if f"{sub} {' '.join(words[:1])}" in BACKUP or sub in BACKUP:
            return self.backup(source, sub, words, timeout, notes)
        handler = {
            "maintenance:on": self.maintenance_on,
            "maintenance:off": self.maintenance_off,
            "scale": self.scale,
            "ps:scale": self.scale,
            "run": self.run,
        }.get(sub)
        if handler is None:
            return self.custom(source, source, timeout, notes + _no_app_note(app))
        handler(source, words, timeout, notes)

    def maintenance_on(self, source, words, timeout, notes):
        mode = MaintenanceMode.MIGRATIONS if self.pushed else MaintenanceMode.DEPLOY
        self.plan.values["maintenance_mode"] = mode.value
        self.note(source, f"maintenance mode: {mode.label.lower()}.")

    def maintenance_off(self, source, words, timeout, notes):
        self.note(source, "herokucd turns maintenance mode off itself.")

    def scale(self, source, words, timeout, notes):
        down = [w.split("=")[0] for w in words if w.endswith("=0")]
        if down:
            types = _merge(self.plan.values.get("scale_down_types", ""), down)
            self.plan.values["scale_down_types"] = types
            return self.note(source, f"scale {', '.join(down)} to 0 during migrations.")
        self.note(source, "herokucd scales process types back to their previous counts.")

    def backup(self, source, sub, words, timeout, notes):
        self.custom(source, source, timeout, notes, backup=not self.migrated)

    def run(self, source, words, timeout, notes):
        command = [w for w in words if w not in RUN_SWITCHES]
        command = command[1:] if command[:1] == ["--"] else command
        text = shlex.join(command)
        plain = not RUN_OPTIONS & {w.split("=")[0] for w in command}
        if self.pushed and not self.migrated and plain and MIGRATION_WORDS.search(text):
            return self.migration(source, text, timeout, notes)
        # The CLI needs --app (herokucd's checkout has no heroku git remote to guess it from).
        self.custom(source, source, timeout, notes, add_app=not _names_app(source))

    def migration(self, source, text, timeout, notes):
        self.migrated = True
        self.plan.values["migration_command"] = text
        if timeout:
            self.plan.values["migration_timeout"] = timeout
        shown = timeout or _default("migration_timeout")
        how = [f"migration in a one-off dyno: {text} (timeout {shown} s).", *notes]
        self.note(source, " ".join(how))

    def custom(self, source, command, timeout, notes, add_app=False, backup=False):
        side = "post_deploy" if self.pushed else "pre_deploy"
        line = Line(_short(source), "")
        self.plan.lines.append(line)
        custom = _Custom(command, timeout, line, notes, add_app, backup)
        self.custom_commands[side].append(custom)

    def _take_backups(self):
        """A backup before a migration is herokucd's backup option (which runs only when there
        is a migration); any other backup stays a command."""
        for commands in self.custom_commands.values():
            for custom in [c for c in commands if c.backup and self.migrated]:
                commands.remove(custom)
                self.plan.values["backup_before_migrate"] = True
                custom.line.how = "back up Postgres before migrating (herokucd waits for it)."

    def _set_app(self, app):
        if not app:
            return
        current = self.plan.values.get("app_name")
        if current and current != app:
            self.plan.problems.append(f"Commands name two apps, {current} and {app}.")
        self.plan.values["app_name"] = app

    def _store_custom(self):
        self._take_backups()
        for side, commands in self.custom_commands.items():
            if not commands:
                continue
            for custom in commands:
                if custom.add_app:
                    custom.command = _with_app(custom.command, self.plan.app)
            self.plan.values[f"{side}_commands"] = "\n".join(c.command for c in commands)
            timeouts = [c.timeout for c in commands if c.timeout]
            if timeouts:
                self.plan.values[f"{side}_timeout"] = max(timeouts)
            step_timeout = max(timeouts, default=_default(f"{side}_timeout"))
            for custom in commands:
                custom.line.how = _how(side, custom, step_timeout)


def _how(side, custom, step_timeout):
    notes = [f"{side.replace('_', '-')} command: {custom.command} (timeout {step_timeout} s)."]
    if custom.add_app:
        notes.append("--app added: the CLI needs it to run.")
    variables = sorted(set(CIRCLE_VARIABLE.findall(custom.command)))
    if variables:
        notes.append(f"It uses {', '.join(variables)}, which herokucd does not set.")
    return " ".join(notes + custom.notes)


def _source_of(item):
    """How a command that could not be read was written, in a few words."""
    if isinstance(item, dict) and item and isinstance(next(iter(item)), str):
        return _short(next(iter(item))) + ":"
    return _shape(item)


def _command_and_modifiers(item):
    """A command is a string, or CircleCI's `- <command>:` mapping with modifiers under it."""
    if isinstance(item, str):
        command, modifiers = item, {}
    elif isinstance(item, dict) and len(item) == 1:
        command, modifiers = next(iter(item.items()))
        modifiers = modifiers if isinstance(modifiers, dict) else {}
    elif isinstance(item, dict) and _modifiers_not_indented(item):
        # `- cmd:` with `timeout:` under the command's own column: the intent is plain.
        command = next(key for key in item if key not in MODIFIERS)
        modifiers = {key: value for key, value in item.items() if key in MODIFIERS}
    else:
        raise _Skip(
            f"not a command (YAML reads it as {_kind(item)}): write a command as text, quoted "
            "if need be, or “- <command>:” with its modifiers (timeout:) indented under it."
        )
    if not isinstance(command, str):
        raise _Skip(f"not a command (YAML reads it as {_kind(command)}): quote it.")
    command = command.strip()
    if not command:
        raise _Skip("an empty command.")
    if len(command.splitlines()) > 1:  # the line breaks herokucd splits commands on
        raise _Skip(
            "a command of several lines: herokucd keeps one command per line, so put it in "
            "a script in your repository and call that."
        )
    return command, modifiers


def _modifiers_not_indented(item):
    commands = [key for key, value in item.items() if key not in MODIFIERS]
    return len(commands) == 1 and item[commands[0]] is None


def _timeout(modifiers):
    """CircleCI's timeout: as whole seconds, and a note when it cannot be used."""
    timeout = modifiers.get("timeout")
    if timeout is None:
        return None, []
    if isinstance(timeout, int) and not isinstance(timeout, bool) and 0 < timeout <= MAX_TIMEOUT:
        return timeout, []
    note = f"Its timeout: {_shape(timeout)} is ignored: give whole seconds, 1 to {MAX_TIMEOUT}."
    return None, [note]


def _with_modifiers(command, modifiers):
    """The command with CircleCI's pwd: and environment: modifiers written into it."""
    prefix = ""
    environment = modifiers.get("environment")
    if isinstance(environment, dict):
        for name, value in environment.items():
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(name)) and _one_line(value):
                prefix += f"export {name}={shlex.quote(str(value))} && "
    pwd = modifiers.get("pwd")
    if _one_line(pwd) and str(pwd).strip():
        prefix += f"cd {shlex.quote(str(pwd).strip())} && "
    return prefix + command


def _one_line(value):
    return isinstance(value, (str, int, float)) and len(str(value).splitlines()) <= 1


def _no_app_note(app):
    if app:
        return []
    return ["It names no app: add --app if it needs one (the checkout has no heroku remote)."]


def _names_app(command):
    return _without_app(_split(command))[1] is not None


def _with_app(command, app):
    """`heroku run …` with `--app <app>` right after `run`, when it named none."""
    if _names_app(command) or not app:
        return command
    return re.sub(r"^heroku\s+run(?=\s|$)", f"heroku run --app {app}", command)


def _default(field_name):
    return Environment._meta.get_field(field_name).default


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


def _shape(value):
    """A short description of a YAML value for a message: never the whole of a big value."""
    if isinstance(value, str):
        return _short(value)
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _short(str(value), 20)
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _kind(value):
    """What YAML made of a value, in words: "a text", "a list of 2 items", "true"."""
    return "a text" if isinstance(value, str) else _shape(value)


def _short(text, limit=200):
    return text if len(text) <= limit else text[: limit - 1] + "…"
