"""What is live: each environment's current Heroku release, read from the simulator, on the cards,
the deploy rows and the deploy page; and the rollback to a chosen release."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from deploys import jobs, live
from deploys.live_models import LiveRelease
from deploys.models import Deploy, State, Trigger
from deploys.services import request_deploy
from projects.models import Role
from tests.heroku_sim.fixtures import APP

pytestmark = pytest.mark.django_db(transaction=True)


def deploy_now(environment, **options):
    deploy = request_deploy(environment, **options)
    jobs.run_deploy(deploy.pk)
    deploy.refresh_from_db()
    assert deploy.state == State.SUCCEEDED, deploy.reason
    return deploy


def page(client, name, *args, **query):
    response = client.get(reverse(name, args=args), query)
    assert response.status_code == 200
    return response.content.decode()


# -- reading what is live ----------------------------------------------------------------------


def test_an_app_never_deployed_by_herokucd_shows_its_release_made_outside(environment, sim):
    live.refresh(environment.pk)
    record = LiveRelease.objects.get(environment=environment)
    latest = sim.app_state()["releases"][-1]
    assert (record.version, record.deploy, record.problem) == (latest["version"], None, "")
    assert record.commit == ""  # the app's first releases carry no code
    assert record.user_email == "deployer@example.com"


def test_after_a_deploy_the_worker_reads_the_release_it_made_with_its_commit(
    environment, git_repo, sim, alice, client_for
):
    deploy = deploy_now(environment, user=alice)
    record = LiveRelease.objects.get(environment=environment)
    assert (record.version, record.commit) == (deploy.release_version, git_repo.head())
    assert record.deploy == deploy
    client = client_for(alice)
    project_page = page(client, "project", environment.project.slug)
    assert f"v{deploy.release_version}" in project_page
    assert f'title="{git_repo.head()}">{git_repo.head()[:7]}</abbr>' in project_page
    assert f'deploy <a href="/projects/foo-bar/deploys/{deploy.number}/">#1</a>' in project_page
    assert "by alice" in project_page and "as of" in project_page
    assert "Last succeeded deploy" in project_page and "Last good commit" not in project_page
    home = page(client, "home")
    assert f'Live <span class="mono">v{deploy.release_version}</span>' in home
    assert "Live now" in page(client, "deploy", environment.project.slug, deploy.number)
    assert "Live now" in page(client, "deploy_history", environment.project.slug)


def test_a_release_made_outside_herokucd_replaces_the_deploys(
    environment, git_repo, sim, alice, client_for
):
    deploy = deploy_now(environment, user=alice)
    sim.api("PATCH", f"/apps/{APP}/config-vars", json={"FEATURE": "on"}).raise_for_status()
    live.refresh(environment.pk)
    record = LiveRelease.objects.get(environment=environment)
    assert record.version == deploy.release_version + 1
    assert record.commit == git_repo.head()  # a config var change keeps the code
    assert record.deploy is None
    client = client_for(alice)
    assert "made outside herokucd" in page(client, "project", environment.project.slug)
    deploy_page = page(client, "deploy", environment.project.slug, deploy.number)
    assert f'Replaced by <span class="mono">v{record.version}</span>' in deploy_page
    assert "Live now" not in deploy_page
    history = page(client, "deploy_history", environment.project.slug)
    assert f"replaced by v{record.version}" in history


def test_when_heroku_cannot_be_asked_the_card_keeps_the_last_release_and_says_why(
    environment, sim, alice, client_for
):
    live.refresh(environment.pk)
    read = LiveRelease.objects.get()
    sim.fault("GET /apps/{app}/releases", status=403, message="You do not have access.")
    live.refresh(environment.pk)
    record = LiveRelease.objects.get()
    assert (record.version, record.read_at) == (read.version, read.read_at)  # "as of" then
    assert record.checked_at > read.checked_at  # not asked again at once
    assert record.problem.startswith(f"Heroku could not be asked what is live on {APP}:")
    assert "You do not have access." in page(client_for(alice), "project", "foo-bar")


def test_a_read_that_changes_what_is_live_shows_on_the_kept_page_at_once(
    environment, sim, alice, client_for
):
    live.refresh(environment.pk)
    client = client_for(alice)
    before = page(client, "project", "foo-bar")
    sim.api("PATCH", f"/apps/{APP}/config-vars", json={"FEATURE": "on"}).raise_for_status()
    live.refresh(environment.pk)
    version = LiveRelease.objects.get().version
    assert f"v{version}" not in before
    assert f"v{version}" in page(client, "project", "foo-bar")


def test_an_old_record_queues_one_read_per_environment_and_a_fresh_one_none(
    environment, sim, queue, alice, client_for
):
    client = client_for(alice)
    page(client, "project", "foo-bar")  # no record yet: a read is queued
    page(client, "home")
    jobs_queued = [job for job in queue.get_jobs() if job.func_name == "deploys.live.refresh"]
    assert [job.args for job in jobs_queued] == [(environment.pk,)]
    queue.empty()
    live.refresh(environment.pk)
    page(client, "project", "foo-bar")
    assert queue.count == 0
    LiveRelease.objects.update(checked_at=timezone.now() - live.MAX_AGE - timedelta(seconds=1))
    page(client, "deploy_history", "foo-bar")  # shows the old record: a read is queued
    assert [job.args for job in queue.get_jobs()] == [(environment.pk,)]


# -- rollback to a chosen release --------------------------------------------------------------


@pytest.fixture
def three_deploys(environment, git_repo, alice):
    """Three succeeded deploys of three commits: #1, #2 and #3 (live)."""
    deploys = []
    for n in range(3):
        git_repo.commit(f"change{n}.txt", f"{n}\n", f"Change {n}")
        deploys.append(deploy_now(environment, user=alice))
    return deploys


def rollback_url(deploy, **query):
    url = reverse("deploy_rollback", args=[deploy.project.slug, deploy.number])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_the_chooser_names_where_the_app_is_and_defaults_to_the_last_good_deploy(
    three_deploys, client_for, alice
):
    _, second, third = three_deploys
    text = client_for(alice).get(rollback_url(third)).content.decode()
    route = (
        f'from <strong class="mono">v{third.release_version}</strong> '
        f'(<abbr class="mono" title="{third.sha}">{third.short_sha}</abbr>)'
    )
    assert route in " ".join(text.split())
    assert f'id="rollback-to">v{second.release_version} ({second.short_sha}, deploy #2)<' in text
    checked = f'value="{second.release_version}" checked'
    assert checked in text
    assert f'value="{third.release_version}"' not in text  # live now: not offered
    assert "#1 · " in text and "alice" in text
    assert "The add-ons are not changed, nor the database unless you tick" in text


def test_the_chooser_names_the_migrations_a_rollback_does_not_undo(
    three_deploys, client_for, alice
):
    third = three_deploys[-1]
    Deploy.objects.filter(pk=third.pk).update(ran_migration=True, backup_name="b007")
    text = client_for(alice).get(rollback_url(third)).content.decode()
    assert "Deploy #3 ran a database migration" in text
    assert "Also restore the database from backup" in text and "b007" in text
    assert "Roll back foo-bar-123" in text


def test_to_preselects_a_deploy_and_a_deploy_without_release_is_refused_with_a_message(
    three_deploys, environment, client_for, alice
):
    first, _, third = three_deploys
    client = client_for(alice)
    text = client.get(rollback_url(third, to=first.number)).content.decode()
    assert f'value="{first.release_version}" checked' in text
    assert f'id="rollback-to">v{first.release_version} ({first.short_sha}, deploy #1)<' in text
    never = Deploy.objects.create(
        project=environment.project,
        number=9,
        environment=environment,
        environment_name=environment.name,
        app_name=APP,
        state=State.FAILED,
    )
    text = client.get(rollback_url(third, to=never.number)).content.decode()
    assert "Deploy #9 has no Heroku release to roll back to" in text
    text = client.get(rollback_url(third, to=third.number)).content.decode()
    assert f"release v{third.release_version} is live now" in text


def test_rolling_back_to_a_chosen_deploy_puts_its_commit_live(
    three_deploys, environment, sim, client_for, alice
):
    first, _, third = three_deploys
    response = client_for(alice).post(rollback_url(third), {"release": first.release_version})
    rollback = Deploy.objects.get(trigger=Trigger.ROLLBACK)
    assert response["Location"] == rollback.get_absolute_url()
    assert (rollback.sha, rollback.rollback_version) == (first.sha, first.release_version)
    assert rollback.trigger_detail == f"Rollback to v{first.release_version} (deploy #1)"
    jobs.run_deploy(rollback.pk)
    rollback.refresh_from_db()
    assert rollback.state == State.SUCCEEDED, rollback.reason
    latest = sim.app_state()["releases"][-1]
    assert latest["description"] == f"Rollback to v{first.release_version}"
    assert latest["commit"] == first.sha
    record = LiveRelease.objects.get(environment=environment)
    assert (record.version, record.commit, record.deploy) == (
        rollback.release_version,
        first.sha,
        rollback,
    )
    event = environment.project.audit_events.get(action="deploy.rolled_back")
    assert event.details["to_version"] == first.release_version
    text = client_for(alice).get(rollback.get_absolute_url()).content.decode()
    assert f'<abbr title="{first.sha}">{first.short_sha}</abbr>' in text
    assert "Live now" in text


def test_a_release_made_outside_herokucd_is_offered_and_can_be_chosen(
    three_deploys, environment, git_repo, sim, client_for, alice
):
    third = three_deploys[-1]
    sim.api("PATCH", f"/apps/{APP}/config-vars", json={"FEATURE": "on"}).raise_for_status()
    outside = third.release_version + 1
    git_repo.commit("later.txt", "later\n", "Later")
    fourth = deploy_now(environment, user=alice)
    text = client_for(alice).get(rollback_url(fourth)).content.decode()
    assert "Releases made outside herokucd" in text
    assert "Set FEATURE config vars" in text
    assert f'value="{third.release_version}"' in text  # no longer live: offered
    client_for(alice).post(rollback_url(fourth), {"release": outside})
    rollback = Deploy.objects.get(trigger=Trigger.ROLLBACK)
    assert (rollback.sha, rollback.trigger_detail) == (third.sha, f"Rollback to v{outside}")


@pytest.mark.parametrize(
    ("release", "message"),
    [
        ("99", "v99 is not a release of foo-bar-123: choose one from the list."),
        ("", "Choose the release to roll back to from the list."),
        ("1", "v1 of foo-bar-123 has no code to roll back to."),
    ],
)
def test_a_bad_target_is_refused_with_a_message_and_nothing_created(
    three_deploys, client_for, alice, release, message
):
    third = three_deploys[-1]
    response = client_for(alice).post(rollback_url(third), {"release": release}, follow=True)
    assert message in response.content.decode()
    assert not Deploy.objects.filter(trigger=Trigger.ROLLBACK).exists()


def test_the_live_release_is_refused_as_a_target(three_deploys, client_for, alice):
    third = three_deploys[-1]
    response = client_for(alice).post(
        rollback_url(third), {"release": third.release_version}, follow=True
    )
    assert f"v{third.release_version} is what foo-bar-123 runs now" in response.content.decode()
    assert not Deploy.objects.filter(trigger=Trigger.ROLLBACK).exists()


def test_heroku_unreachable_lists_the_deploys_and_refuses_to_start(
    three_deploys, sim, client_for, alice
):
    first, _, third = three_deploys
    sim.fault("GET /apps/{app}/releases", status=503)
    client = client_for(alice)
    text = client.get(rollback_url(third)).content.decode()
    assert f"Heroku could not be asked for the releases of {APP}" in text
    assert f'value="{first.release_version}"' in text
    sim.fault("GET /apps/{app}/releases/{release}", status=503)
    response = client.post(rollback_url(third), {"release": first.release_version}, follow=True)
    assert "nothing was started" in response.content.decode()
    assert not Deploy.objects.filter(trigger=Trigger.ROLLBACK).exists()


def test_an_outsider_gets_404_and_a_viewer_403_on_the_chooser(
    three_deploys, client_for, charlie, bob_as
):
    from projects.models import Role

    third = three_deploys[-1]
    assert client_for(charlie).get(rollback_url(third)).status_code == 404
    assert client_for(bob_as(Role.VIEWER)).get(rollback_url(third)).status_code == 403


# -- the pages stay a fixed number of queries ----------------------------------------------------


def test_the_cards_read_what_is_live_without_a_query_of_their_own(
    project, alice, django_assert_num_queries
):
    from deploys.views import project_cards
    from tests.deploys.factories import make_deploy, make_environment
    from tests.deploys.test_history import count_overview_queries

    staging = make_environment(project, "staging", app_name="foo-staging")
    production = make_environment(project, "production", app_name="foo-production")
    deploy = make_deploy(project, staging, release_version=12)
    without = count_overview_queries(project, alice)
    now = timezone.now()
    LiveRelease.objects.create(
        environment=staging, app_name="foo-staging", version=12, commit=deploy.sha,
        deploy=deploy, released_at=now, checked_at=now,
    )  # fmt: skip
    LiveRelease.objects.create(
        environment=production, app_name="foo-production", version=3, checked_at=now,
        user_email="ops@example.com", released_at=now,
    )  # fmt: skip
    assert count_overview_queries(project, alice) == without
    with django_assert_num_queries(1):
        card = project_cards([project])[project.pk].html
    assert 'Live <span class="mono">v12</span>' in card
    assert f'<a href="/projects/foo-bar/deploys/{deploy.number}/">#{deploy.number}</a>' in card
    assert 'Live <span class="mono">v3</span> <span class="muted">made outside herokucd' in card


def test_a_deployer_cannot_roll_back_to_an_older_release_than_the_page_offers(
    environment, git_repo, sim, client_for, alice, bob_as
):
    """Old releases carry old config vars (credentials rotated since): only the chooser's."""
    git_repo.commit("a.txt", "a\n", "A")
    first = deploy_now(environment, user=alice)
    for n in range(live.CHOICES + 2):
        sim.api("PATCH", f"/apps/{APP}/config-vars", json={"OLD_SECRET": f"v{n}"})
    hidden = first.release_version + 1  # made outside herokucd, older than the ten offered
    deployer = client_for(bob_as(Role.DEPLOYER))
    assert f'value="{hidden}"' not in deployer.get(rollback_url(first)).content.decode()

    response = deployer.post(rollback_url(first), {"release": hidden}, follow=True)

    assert not Deploy.objects.filter(trigger=Trigger.ROLLBACK).exists()
    assert f"v{hidden} of {APP} is not one of the releases offered" in response.content.decode()
    deployer.post(rollback_url(first), {"release": first.release_version})  # its own: allowed
    assert Deploy.objects.get(trigger=Trigger.ROLLBACK).rollback_version == first.release_version


def test_a_rollback_confirmed_for_an_app_the_environment_no_longer_deploys_to_is_refused(
    environment, git_repo, sim, client_for, alice
):
    first = deploy_now(environment, user=alice)
    git_repo.commit("b.txt", "b\n", "B")
    deploy_now(environment, user=alice)
    admin = client_for(alice)
    assert f'name="app" value="{APP}"' in admin.get(rollback_url(first)).content.decode()
    environment.app_name = "another-app"
    environment.save()

    response = admin.post(
        rollback_url(first), {"release": first.release_version, "app": APP}, follow=True
    )

    assert "now deploys to another-app, not " + APP in response.content.decode()
    assert not Deploy.objects.filter(trigger=Trigger.ROLLBACK).exists()
