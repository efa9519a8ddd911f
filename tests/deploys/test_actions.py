"""The Deploy button, cancel, retry and rollback: pages, permissions, and what they start."""

import pytest
from django.urls import reverse

from deploys.models import Deploy, State, Trigger
from projects.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished_deploy(environment):
    return Deploy.objects.create(
        project=environment.project,
        number=1,
        environment=environment,
        environment_name=environment.name,
        app_name=environment.app_name,
        branch="main",
        sha="a" * 40,
        state=State.SUCCEEDED,
        previous_release_id="release-uuid-1",
        ran_migration=True,
        backup_name="b007",
    )


def action_url(name, deploy):
    return reverse(name, args=[deploy.project.slug, deploy.number])


NEW = "deploy_new"
ACTIONS = ["deploy_cancel", "deploy_retry", "deploy_rollback", "deploy_promote"]


def test_the_deploy_form_starts_a_deploy_of_the_branch(environment, client_for, alice, queue):
    client = client_for(alice)
    url = reverse(NEW, args=[environment.project.slug])
    page = client.get(url)
    assert page.status_code == 200
    assert b"Branch or commit" in page.content
    response = client.post(url, {"environment": environment.pk, "ref": "main"})
    deploy = Deploy.objects.get()
    assert response.status_code == 302
    assert response["Location"] == deploy.get_absolute_url()
    assert (deploy.branch, deploy.sha, deploy.triggered_by) == ("main", "", alice)
    assert deploy.state == State.QUEUED


def test_a_commit_sha_deploys_that_commit(environment, client_for, alice, queue):
    url = reverse(NEW, args=[environment.project.slug])
    client_for(alice).post(url, {"environment": environment.pk, "ref": "3f2a9c1"})
    assert Deploy.objects.get().sha == "3f2a9c1"


def test_a_bad_ref_is_refused_with_a_message_and_nothing_saved(environment, client_for, alice):
    url = reverse(NEW, args=[environment.project.slug])
    page = client_for(alice).post(url, {"environment": environment.pk, "ref": "bad name.."})
    assert page.status_code == 200
    assert b"This is not a branch name or a commit sha" in page.content
    assert not Deploy.objects.exists()


def test_the_deploy_form_says_to_add_an_environment_first(project, client_for, alice):
    response = client_for(alice).get(reverse(NEW, args=[project.slug]), follow=True)
    assert b"Add an environment first" in response.content


@pytest.mark.parametrize("name", ACTIONS)
def test_actions_require_sign_in(client, finished_deploy, name):
    response = client.post(action_url(name, finished_deploy))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", [*ACTIONS, NEW])
def test_an_outsider_gets_404(finished_deploy, client_for, charlie, name):
    args = [finished_deploy.project.slug] + ([] if name == NEW else [finished_deploy.number])
    assert client_for(charlie).post(reverse(name, args=args)).status_code == 404


@pytest.mark.parametrize("name", [*ACTIONS, NEW])
def test_a_viewer_may_not_deploy_or_change_deploys(finished_deploy, bob_as, client_for, name):
    client = client_for(bob_as(Role.VIEWER))
    args = [finished_deploy.project.slug] + ([] if name == NEW else [finished_deploy.number])
    assert client.post(reverse(name, args=args)).status_code == 403
    assert Deploy.objects.count() == 1


def test_a_deployer_cancels_a_queued_deploy(environment, bob_as, client_for, queue):
    from deploys.services import request_deploy

    deploy = request_deploy(environment)
    bob = bob_as(Role.DEPLOYER)
    response = client_for(bob).post(
        action_url("deploy_cancel", deploy), {"confirmed": "yes"}, follow=True
    )
    deploy.refresh_from_db()
    assert deploy.state == State.CANCELED
    assert deploy.reason == "Canceled by bob."
    assert f"Canceled deploy #{deploy.number}." in response.content.decode()


def test_canceling_a_finished_deploy_says_so(finished_deploy, client_for, alice):
    response = client_for(alice).post(action_url("deploy_cancel", finished_deploy), follow=True)
    assert "This deploy has already finished." in response.content.decode()


def test_retry_deploys_the_same_commit_again(finished_deploy, client_for, alice, queue):
    response = client_for(alice).post(action_url("deploy_retry", finished_deploy))
    retry = Deploy.objects.get(number=2)
    assert response["Location"] == retry.get_absolute_url()
    assert (retry.sha, retry.trigger, retry.retry_of) == ("a" * 40, Trigger.RETRY, finished_deploy)


# The rollback chooser and what it starts: tests/deploys/test_live.py.


def test_a_deploy_that_never_reached_heroku_cannot_be_rolled_back(
    finished_deploy, client_for, alice
):
    Deploy.objects.filter(pk=finished_deploy.pk).update(previous_release_id="")
    url = action_url("deploy_rollback", finished_deploy)
    response = client_for(alice).get(f"{url}?to={finished_deploy.number}")
    assert "Deploy #1 has no Heroku release to roll back to" in response.content.decode()
    response = client_for(alice).post(url, follow=True)
    assert "Choose the release to roll back to from the list." in response.content.decode()
    assert Deploy.objects.count() == 1
