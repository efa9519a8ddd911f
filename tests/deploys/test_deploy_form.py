"""The Deploy form: the chosen environment's branch prefilled, the recent commits of the
project's mirror to pick from (escaped, read locally), and a confirmation step before a manual
deploy to an environment that asks first (production)."""

import shutil
import subprocess

import pytest
from django.urls import reverse

from deploys import mirror
from deploys.models import Deploy, State
from projects.models import Role
from tests.deploys.factories import make_deploy, make_environment

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script> & <b>bold</b>'


@pytest.fixture
def no_mirror(project):
    """Primary keys come back between tests: no test sees another's mirror."""
    shutil.rmtree(mirror.mirror_path(project), ignore_errors=True)
    yield
    shutil.rmtree(mirror.mirror_path(project), ignore_errors=True)


@pytest.fixture
def cloned(project, git_repo, no_mirror):
    """The project's mirror, cloned from its repository as a deploy clones it."""

    def clone():
        path = mirror.mirror_path(project)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run(
            ["git", "clone", "--mirror", "-q", str(git_repo.path), str(path)],
            check=True,
            capture_output=True,
        )
        return path

    return clone


@pytest.fixture
def staging(project):
    return make_environment(project, "staging", branch="develop")


@pytest.fixture
def production(project):
    return make_environment(
        project,
        "production",
        branch="/release-.*/",
        app_name="acme-prod",
        confirm_manual_deploys=True,
        maintenance_mode="migrations",
        migration_command="bin/migrate",
        scale_down_types="worker, clock",
    )


def url(project, environment=None):
    base = reverse("deploy_new", args=[project.slug])
    return f"{base}?environment={environment.pk}" if environment else base


def ref_value(response) -> str:
    return response.context["form"]["ref"].value()


def test_the_form_suggests_the_chosen_environments_branch(
    client_for, alice, project, staging, production, no_mirror
):
    client = client_for(alice)
    assert ref_value(client.get(url(project, staging))) == "develop"
    # A /regex/ names no one branch: the project's default branch is suggested.
    assert ref_value(client.get(url(project, production))) == "main"
    assert ref_value(client.get(url(project))) == "develop"  # the first environment
    page = client.get(url(project, production)).content.decode()
    assert f'<option value="{production.pk}" selected>' in page
    assert f'href="?environment={staging.pk}"' in page  # picked without JavaScript too


def test_the_page_gives_its_script_each_environments_suggestion(
    client_for, alice, project, staging, production, no_mirror
):
    page = client_for(alice).get(url(project)).content.decode()
    assert f'"{staging.pk}": "develop"' in page and f'"{production.pk}": "main"' in page
    assert "js/deploy_new.js" in page
    assert "<script>" not in page  # no inline script: the suggestions are a JSON data block


def test_it_lists_the_recent_commits_of_the_branch_newest_first(
    client_for, alice, project, git_repo, staging, cloned
):
    git_repo.git("checkout", "-q", "-b", "develop")
    shas = [git_repo.commit(f"f{n}", str(n), f"Change number {n}") for n in range(25)]
    cloned()
    page = client_for(alice).get(url(project, staging)).content.decode()
    assert "last 20 commits of <code>develop</code>" in page
    assert page.index(shas[-1][:7]) < page.index(shas[-2][:7])
    assert "Change number 24" in page and "Change number 5" in page
    assert "Change number 4<" not in page  # only the last 20
    assert f'value="{shas[-1]}"' in page
    assert "Test," in page  # the author


def test_commit_subjects_are_escaped(client_for, alice, project, git_repo, cloned):
    environment = make_environment(project, "staging", branch="main")
    git_repo.commit("x", "x", HOSTILE)
    cloned()
    page = client_for(alice).get(url(project, environment)).content.decode()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    assert "<script>alert" not in page and "<b>bold" not in page


def test_a_project_without_a_mirror_says_commits_come_after_the_first_fetch(
    client_for, alice, project, staging, no_mirror
):
    page = client_for(alice).get(url(project, staging)).content.decode()
    assert "Recent commits appear after the first fetch" in page


def test_a_branch_the_mirror_lacks_says_so(client_for, alice, project, staging, cloned):
    cloned()
    page = client_for(alice).get(url(project, staging)).content.decode()
    assert "No commits of branch <code>develop</code>" in page


def test_a_picked_commit_is_deployed(client_for, alice, project, git_repo, cloned, queue):
    environment = make_environment(project, "staging", branch="main")
    first = git_repo.head()
    git_repo.commit("x", "x", "Later")
    cloned()
    data = {"environment": environment.pk, "ref": "main", "commit": first}
    response = client_for(alice).post(url(project), data)
    deploy = Deploy.objects.get()
    assert response["Location"] == deploy.get_absolute_url()
    assert (deploy.sha, deploy.branch) == (first, "")


def test_a_picked_commit_that_is_not_a_sha_is_refused(client_for, alice, project, staging):
    data = {"environment": staging.pk, "ref": "main", "commit": "--upload-pack=x"}
    page = client_for(alice).post(url(project), data).content.decode()
    assert "Pick a commit from the list" in page
    assert not Deploy.objects.exists()


# -- Confirmation before a deploy to an environment that asks first ---------------------------


def test_a_production_deploy_asks_first_saying_what_will_happen(
    client_for, alice, project, git_repo, production, cloned, queue
):
    git_repo.git("branch", "release-1")
    tip = git_repo.head()
    cloned()
    live = make_deploy(project, production, sha="c" * 40, release_version=41)
    response = client_for(alice).post(
        url(project), {"environment": production.pk, "ref": "release-1"}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert f"Deploy {tip[:7]} to acme-prod" in page  # the button names commit and app
    assert "the tip of <code>release-1</code>" in page
    assert f"#{live.number}</a> (release v41)" in page and "ccccccc" in page
    for step in (
        "Scale worker, clock to 0",
        "Push the commit to the app&#x27;s main branch",
        "Wait for Heroku&#x27;s release phase (the Procfile&#x27;s release command, if it has one)",
        "Turn maintenance mode on",
        "Run the migration in a one-off dyno: bin/migrate",
        "Scale worker, clock back",
        "Turn maintenance mode off",
    ):
        assert step in page
    assert Deploy.objects.count() == 1  # nothing started yet


def test_confirming_deploys_exactly_the_commit_shown(
    client_for, alice, project, git_repo, production, cloned, queue
):
    git_repo.git("branch", "release-1")
    shown = git_repo.head()
    cloned()
    git_repo.git("checkout", "-q", "release-1")
    git_repo.commit("later", "x", "Pushed after the confirmation page")
    data = {"environment": production.pk, "ref": "release-1", "confirmed": shown}
    response = client_for(alice).post(url(project), data)
    deploy = Deploy.objects.get()
    assert response["Location"] == deploy.get_absolute_url()
    assert (deploy.sha, deploy.branch, deploy.state) == (shown, "release-1", State.QUEUED)


def test_without_a_mirror_the_confirmation_names_the_branch(
    client_for, alice, project, production, no_mirror, queue
):
    client = client_for(alice)
    page = client.post(url(project), {"environment": production.pk, "ref": "release-1"})
    page = page.content.decode()
    assert "Deploy release-1 to acme-prod" in page
    assert "no deploy to production has succeeded in herokucd yet" in page
    assert 'name="confirmed" value="branch"' in page
    assert "Maintenance mode stays off" not in page  # on around the migration
    assert "No migration runs." not in page
    data = {"environment": production.pk, "ref": "release-1", "confirmed": "branch"}
    client.post(url(project), data)
    assert (Deploy.objects.get().branch, Deploy.objects.get().sha) == ("release-1", "")


def test_the_confirmation_says_what_the_deploy_leaves_alone(
    client_for, alice, project, staging, no_mirror
):
    staging.confirm_manual_deploys = True
    staging.save()
    page = client_for(alice).post(url(project), {"environment": staging.pk, "ref": "develop"})
    page = page.content.decode()
    assert "Maintenance mode stays off: the app keeps serving during the deploy." in page
    assert "No process type is scaled down." in page and "No migration runs." in page
    assert "Deploy develop to foo-bar-staging" in page


def test_an_environment_that_does_not_ask_deploys_at_once(
    client_for, alice, project, staging, queue
):
    response = client_for(alice).post(url(project), {"environment": staging.pk, "ref": "develop"})
    assert response.status_code == 302
    assert Deploy.objects.get().branch == "develop"


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_viewer_gets_403(project, production, bob_as, client_for, method):
    client = client_for(bob_as(Role.VIEWER))
    data = {"environment": production.pk, "ref": "main", "confirmed": "branch"}
    response = getattr(client, method)(url(project), data if method == "post" else None)
    assert response.status_code == 403
    assert not Deploy.objects.exists()


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_outsider_gets_404(project, production, charlie, client_for, method):
    client = client_for(charlie)
    data = {"environment": production.pk, "ref": "main", "confirmed": "branch"}
    response = getattr(client, method)(url(project), data if method == "post" else None)
    assert response.status_code == 404
    assert not Deploy.objects.exists()


def test_the_confirmation_says_when_the_commit_is_older_than_the_live_one(
    client_for, alice, project, git_repo, production, cloned, queue
):
    old = git_repo.head()
    live = git_repo.commit("x", "x", "Live now")
    cloned()
    make_deploy(project, production, sha=live)
    page = client_for(alice).post(url(project), {"environment": production.pk, "ref": old[:7]})
    page = page.content.decode()
    assert f"{old[:7]} is older than the live commit {live[:7]}" in page
    assert "Force push" in page
    assert f'name="confirmed" value="{old}"' in page  # the full sha the mirror knows


def test_the_confirmation_says_when_the_commit_is_already_live(
    client_for, alice, project, git_repo, production, cloned, queue
):
    cloned()
    make_deploy(project, production, sha=git_repo.head())
    data = {"environment": production.pk, "ref": git_repo.head()}
    page = client_for(alice).post(url(project), data).content.decode()
    assert "This commit is already live" in page
    assert "is older than" not in page


def test_recent_commits_are_bounded_and_never_read_an_option(project, git_repo, cloned):
    for n in range(3):
        git_repo.commit(f"f{n}", str(n), f"Change {n}")
    cloned()
    assert [c.subject for c in mirror.recent_commits(project, "main", count=2)] == [
        "Change 2",
        "Change 1",
    ]
    assert len(mirror.recent_commits(project, "main", count=10_000)) == 4  # capped at 100
    assert mirror.recent_commits(project, "--output=/tmp/x") == []
    assert mirror.recent_commits(project, "no-such-branch") == []
    assert mirror.branch_tip(project, "main") == git_repo.head()


def test_a_subject_that_is_not_utf8_does_not_break_the_page(
    client_for, alice, project, git_repo, cloned, tmp_path
):
    environment = make_environment(project, "staging", branch="main")
    message = tmp_path / "message"
    message.write_bytes(b"Caf\xe9 \xff\xfe broken\n")
    (git_repo.path / "y").write_text("y")
    git_repo.git("add", "y")
    git_repo.git("-c", "i18n.commitEncoding=binary", "commit", "-q", "-F", str(message))
    cloned()
    response = client_for(alice).get(url(project, environment))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Caf\ufffd \ufffd\ufffd broken" in page
    assert "First commit" in page  # the rest of the list is there


def test_a_huge_subject_is_cut_by_git_before_it_reaches_the_page(project, git_repo, cloned):
    git_repo.commit("big", "big", "Fix " + "x" * 100_000)  # as long as a command line allows
    cloned()
    [newest] = mirror.recent_commits(project, "main", count=1)
    assert newest.subject.startswith("Fix xxx") and len(newest.subject) <= mirror.SUBJECT_MAX
