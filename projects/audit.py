"""The audit trail: who changed what in a project's setup. Details never hold a secret."""

from projects.models import AuditEvent

# Detail names that would mean a secret is about to be written to the trail.
SECRET_NAMES = {"api_key", "private_key", "password", "token", "secret"}


def record(project, actor, action: str, **details) -> AuditEvent:
    """Record `action` (e.g. "environment.changed") with JSON-serialisable details."""
    leaked = SECRET_NAMES.intersection(details)
    if leaked:
        raise ValueError(f"Refusing to record secret values in the audit trail: {sorted(leaked)}")
    return AuditEvent.objects.create(project=project, actor=actor, action=action, details=details)


def recent(project, limit=50):
    return project.audit_events.select_related("actor")[:limit]


def describe(event: AuditEvent) -> str:
    """One line a person can read: the action's words plus its details."""
    words = ACTION_WORDS.get(event.action, event.action)
    # PostgreSQL's jsonb does not keep key order: name the environment first, then A to Z.
    items = sorted(event.details.items(), key=lambda item: (item[0] != "environment", item[0]))
    details = "; ".join(_detail(name, value) for name, value in items)
    return f"{words}: {details}" if details else words


def _detail(name, value):
    if isinstance(value, dict) and set(value) == {"from", "to"}:
        return f"{name} {value['from']!r} → {value['to']!r}"
    if isinstance(value, list):
        return f"{name}: {', '.join(map(str, value))}"
    return f"{name}: {value}"


ACTION_WORDS = {
    "credential.set": "Set the Heroku API key",
    "credential.replaced": "Replaced the Heroku API key",
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
}
