"""An environment's app is the project's: every saved app name is checked with the project's
key, and only a deploy whose project's key reached the app may hold the app's deploy lock.

The attacker is charlie, admin of his own project whose Heroku key (other@example.com) cannot
reach the victim's app foo-bar-123 (alice's project, deployer@example.com's key).
"""

import time

import pytest

from deploys import jobs
from deploys.models import Deploy, State
from deploys.services import request_deploy
from projects.models import Environment, Membership, Project, Role
from tests.conftest import store_heroku_key
from tests.deploys.conftest import credential, environment, queue, redis_up, sim  # noqa: F401
from tests.deploys.test_queue import finished, workers  # noqa: F401
from tests.heroku_sim.fixtures import APP

REFUSED = (
    "herokucd's key for this project cannot reach app foo-bar-123: ask its owner to add "
    "other@example.com as a collaborator."
)
CIRCLE = "deployment:\n  production:\n    branch: main\n    heroku:\n      appname: foo-bar-123\n"


@pytest.fixture
def attacker_project(charlie, git_repo, sim):  # noqa: F811
    project = Project.objects.create(
        name="Evil", slug="evil", repository_url=str(git_repo.path), created_by=charlie
    )
    Membership.objects.create(project=project, user=charlie, role=Role.ADMIN)
    store_heroku_key(project, sim.other_api_key, charlie, email="other@example.com")
    return project


def bypassing_the_forms(project, **extra):
    """The victim's app saved straight into the table, as no form would let it be."""
    return Environment.objects.create(
        project=project,
        name="production",
        branch="main",
        app_name=APP,
        pre_deploy_commands="sleep 30",
        **extra,
    )


@pytest.mark.django_db
def test_the_import_preview_shows_each_apps_check_and_refuses_another_teams_app(
    client_for,
    charlie,
    attacker_project,
    alice,
    project,
    credential,  # noqa: F811
):
    attacker = client_for(charlie)
    response = attacker.post("/projects/evil/settings/import/", {"circle_yml": CIRCLE})
    assert REFUSED.replace("'", "&#x27;") in response.content.decode()
    attacker.post("/projects/evil/settings/import/", {"circle_yml": CIRCLE, "confirm": "1"})
    assert not attacker_project.environments.exists()

    owner = client_for(alice)
    preview = owner.post("/projects/foo-bar/settings/import/", {"circle_yml": CIRCLE})
    assert "Heroku app foo-bar-123: reachable with deployer@example.com&#x27;s key." in (
        preview.content.decode()
    )
    owner.post("/projects/foo-bar/settings/import/", {"circle_yml": CIRCLE, "confirm": "1"})
    imported = project.environments.get()
    assert imported.app_checked_with(credential.key_hash)


@pytest.mark.django_db
def test_saving_settings_rechecks_an_unchanged_app_name(client_for, charlie, attacker_project):
    environment = bypassing_the_forms(attacker_project)  # noqa: F811
    url = f"/projects/evil/settings/environments/{environment.pk}/"
    form = client_for(charlie).get(url).context["form"]
    data = {name: value for name, value in form.initial.items() if value not in (None, False)}
    data["pre_deploy_commands"] = "sleep 60"
    response = client_for(charlie).post(url, data)
    assert REFUSED.replace("'", "&#x27;") in response.content.decode()
    environment.refresh_from_db()
    assert environment.pre_deploy_commands == "sleep 30", "saved although the app was refused"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("queue")
def test_an_unchecked_deploy_of_another_teams_app_fails_without_taking_its_lock(
    attacker_project,
    environment,  # noqa: F811
):
    evil = request_deploy(bypassing_the_forms(attacker_project))
    victims = request_deploy(environment)
    # Older and queued, the attacker's deploy keeps the victim's from nobody.
    assert jobs.claim(victims) is True
    Deploy.objects.filter(pk=victims.pk).update(state=State.SUCCEEDED)

    assert jobs.run_deploy(evil.pk) == "app not reachable"
    evil.refresh_from_db()
    assert evil.state == State.FAILED and evil.started_at is None
    assert evil.reason == f"Not deployed: {REFUSED}"
    assert not evil.steps.exists(), "the pre-deploy command ran"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_sleeping_pre_deploy_command_of_another_project_never_holds_the_victims_app(
    attacker_project,
    environment,  # noqa: F811
    workers,  # noqa: F811
):
    evil = request_deploy(bypassing_the_forms(attacker_project))
    victims = request_deploy(environment)
    started = time.monotonic()
    workers(1)
    finished(victims, timeout=60)
    assert victims.state == State.SUCCEEDED, victims.reason
    assert time.monotonic() - started < 25, "the victim waited for the attacker's sleep"
    evil.refresh_from_db()
    assert (evil.state, evil.reason) == (State.FAILED, f"Not deployed: {REFUSED}")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("queue")
def test_a_replaced_key_is_checked_again_once_before_the_next_deploy(
    environment,  # noqa: F811
    credential,  # noqa: F811
    sim,  # noqa: F811
):
    environment.record_app_check(APP, credential.key_hash)
    environment.save()
    # The key is replaced by one of an account that cannot reach the app.
    credential.key_hash, credential.api_key = "another", sim.other_api_key
    credential.account_email = "other@example.com"
    credential.save()
    deploy = request_deploy(environment)
    assert jobs.run_deploy(deploy.pk) == "app not reachable"
    deploy.refresh_from_db()
    assert deploy.reason == f"Not deployed: {REFUSED}"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("queue")
def test_a_deploy_records_the_check_so_the_next_one_asks_heroku_nothing(
    environment,  # noqa: F811
    credential,  # noqa: F811
    sim,  # noqa: F811
):
    deploy = request_deploy(environment)
    assert (
        jobs.app_lock.refusal(Deploy.objects.select_related(*jobs.RUN_WITH).get(pk=deploy.pk))
        is None
    )
    environment.refresh_from_db()
    assert environment.app_checked_with(credential.key_hash)
    sim.fault("GET /apps/{app}", status=503)  # asking Heroku again would now fail
    again = Deploy.objects.select_related(*jobs.RUN_WITH).get(pk=deploy.pk)
    assert jobs.app_lock.refusal(again) is None
