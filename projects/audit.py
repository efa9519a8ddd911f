"""The audit trail: who changed what in a project's setup. Details never hold a secret."""

from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import FieldDoesNotExist

from projects.models import AuditEvent, Environment, Role

# Detail names that would mean a secret is about to be written to the trail.
SECRET_NAMES = {"api_key", "private_key", "password", "token", "secret"}
EMPTY = "(empty)"


def record(project, actor, action: str, **details) -> AuditEvent:
    """Record `action` (e.g. "environment.changed") with JSON-serialisable details."""
    leaked = SECRET_NAMES.intersection(details)
    if leaked:
        raise ValueError(f"Refusing to record secret values in the audit trail: {sorted(leaked)}")
    return AuditEvent.objects.create(project=project, actor=actor, action=action, details=details)


def recent(project, limit=50):
    return project.audit_events.select_related("actor")[:limit]


def without_password(value):
    """A URL with its password replaced by •••• (health check URLs may carry basic auth)."""
    if not isinstance(value, str) or "@" not in value or "://" not in value:
        return value
    parts = urlsplit(value)
    if not parts.password:
        return value
    netloc = parts.netloc.replace(f":{parts.password}@", ":••••@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def describe(event: AuditEvent) -> str:
    """One line a person can read, in the words of the forms: "Maintenance mode: Off → Whole
    deploy", never the internal field or choice names."""
    words = ACTION_WORDS.get(event.action, event.action)
    # PostgreSQL's jsonb does not keep key order: name the environment first, then A to Z.
    items = sorted(event.details.items(), key=lambda item: (item[0] != "environment", item[0]))
    details = "; ".join(_detail(name, value) for name, value in items)
    return f"{words}: {details}" if details else words


def _detail(name, value):
    label = label_for(name)
    if isinstance(value, dict) and set(value) == {"from", "to"}:
        return f"{label}: {shown(name, value['from'])} → {shown(name, value['to'])}"
    if value == "changed":
        return f"{label} changed"
    if isinstance(value, list):
        return f"{label}: {', '.join(map(str, value))}"
    return f"{label}: {shown(name, value)}"


def label_for(name: str) -> str:
    """The label the settings form shows for `name`, else the model's verbose name."""
    if name in DETAIL_LABELS:
        return DETAIL_LABELS[name]
    from projects.settings_forms import EnvironmentOptionsForm  # it imports this module

    field = EnvironmentOptionsForm.base_fields.get(name)
    if field is not None and field.label:
        return str(field.label)
    return name.replace("_", " ").capitalize()


def shown(name, value) -> str:
    """`value` of option `name` as the form shows it: On/Off, choice labels, (empty)."""
    if isinstance(value, bool):
        return "On" if value else "Off"
    if value in ("", None):
        return EMPTY
    choices = _choices(name)
    return str(choices.get(value, without_password(value)))


def _choices(name) -> dict:
    if name == "role":
        return dict(Role.choices)
    try:
        return dict(Environment._meta.get_field(name).flatchoices)
    except FieldDoesNotExist:
        return {}


DETAIL_LABELS = {
    "chunks": "Log chunks read",
    "changed": "Log chunks changed",
    "problems": "Problems",
    "scrub": "Scrub",
    "environment": "Environment",
    "environments": "Environments",
    "migration_command": "Migration command",
    "heroku_account": "Heroku account",
    "deploy_user": "Deploy user",
    "fingerprint": "SSH key fingerprint",
    "member": "Member",
    "role": "Role",
    "reason": "Reason",
    "comment": "Comment",
    "number": "Deploy",
    "held": "Held by",
    "title": "Title",
    "when": "When",
    "scope": "For",
}

ACTION_WORDS = {
    "credential.set": "Set the Heroku API key",
    "credential.replaced": "Replaced the Heroku API key",
    "github_token.set": "Set the GitHub token",
    "github_token.replaced": "Replaced the GitHub token",
    "github_token.removed": "Removed the GitHub token",
    "deploy_user.set": "Set the Heroku deploy user and registered an SSH key",
    "deploy_key.replaced": "Replaced the SSH key",
    "deploy_key.removed": "Removed the SSH key",
    "environment.added": "Added an environment",
    "environment.changed": "Changed an environment",
    "environment.deleted": "Deleted an environment",
    "environments.imported": "Imported environments from circle.yml",
    "member.added": "Added a member",
    "member.role_changed": "Changed a member's role",
    "member.removed": "Removed a member",
    "logs.scrub_started": "Started scrubbing the stored logs",
    "logs.scrubbed": "Scrubbed the stored logs",
    "environment.locked": "Locked an environment",
    "environment.unlocked": "Unlocked an environment",
    "environment.gates_changed": "Changed an environment's approval rules",
    "freeze_window.added": "Added a freeze window",
    "freeze_window.deleted": "Deleted a freeze window",
    "deploy.override": "Overrode a lock or freeze window to deploy",
    "deploy.approved": "Approved a deploy",
    "deploy.rejected": "Rejected a deploy",
    "deploy.approval_expired": "A deploy waiting for approval expired",
}
