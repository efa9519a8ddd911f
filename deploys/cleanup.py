"""Undoing what a deploy changed on its app (a Build API build still running, maintenance mode,
scaled-down process types).

The pipeline records each change in `Deploy.cleanup_state` before making it; its last step
undoes them, and so does the stale-deploy reaper when the deploy's worker died.
"""

from herokucd.heroku import HerokuError

KEPT_MAINTENANCE = (
    "Maintenance mode stays on: the migration failed and this environment keeps maintenance on "
    "after a failed migration, so nobody uses a half-migrated database. Switch it off once the "
    "database is fixed."
)


def undo_changes(deploy, client, writer, keep_maintenance=False) -> list[str]:
    """Scale back and switch maintenance off as `deploy.cleanup_state` says; the problems.

    What was undone (or deliberately kept) leaves `cleanup_state`; what failed stays in it.
    Safe to run again after it was cut short (a reaper that died mid-cleanup): scaling to the
    recorded formation and switching maintenance off change nothing the second time.
    """
    state = dict(deploy.cleanup_state)
    problems = []
    if state.get("build"):  # first: a build left running would release after the deploy ended
        problems += _undo(state, "build", lambda: _cancel_build(deploy, client, writer, state))
    if state.get("formation"):
        problems += _undo(state, "formation", lambda: _scale_back(deploy, client, writer, state))
    if state.get("maintenance") and keep_maintenance:
        writer.system(KEPT_MAINTENANCE)
        state.pop("maintenance")
    elif state.get("maintenance"):
        problems += _undo(state, "maintenance", lambda: _maintenance_off(deploy, client, writer))
    deploy.keep_cleanup_state(state)
    return problems


def _undo(state, name, undo) -> list[str]:
    try:
        undo()
    except HerokuError as error:
        return [f"{_left(state, name)} ({error})"]
    state.pop(name)
    return []


def _left(state, name) -> str:
    """What stays changed on the app when undoing `name` failed."""
    if name == "build":
        return "Heroku's build may still finish and release"
    if name == "formation":
        return f"process types are still scaled down, should be {quantities(state[name])}"
    return "the app is still in maintenance mode"


def _scale_back(deploy, client, writer, state):
    client.scale(deploy.app_name, state["formation"])
    writer.system(f"Scaled back to {quantities(state['formation'])}.")


def _cancel_build(deploy, client, writer, state):
    """Cancel the deploy's Build API build if Heroku is still building it."""
    build = client.build(deploy.app_name, state["build"])
    if build.get("status") == "pending":
        client.cancel_build(deploy.app_name, state["build"])
        writer.system("Canceled Heroku's build.")


def _maintenance_off(deploy, client, writer):
    client.set_maintenance(deploy.app_name, False)
    writer.system("Maintenance mode off.")


def quantities(formation) -> str:
    return ", ".join(f"{kind}={count}" for kind, count in formation.items())
