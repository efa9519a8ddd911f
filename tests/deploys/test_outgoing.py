"""What is going out: the commits between what is live and what a deploy puts there, with
the files that look like migrations, on the deploy page, the Deploy confirmation and the
project pages (how far each environment is behind its branch)."""

import shutil
import subprocess

import pytest
from django.utils import timezone

from deploys import mirror, outgoing
from deploys.live_models import LiveRelease
from deploys.models import State
from tests.deploys.factories import make_deploy, make_environment

pytestmark = pytest.mark.django_db


@pytest.fixture
def cloned(project, git_repo):
    path = mirror.mirror_path(project)

    def clone():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run(
            ["git", "clone", "--mirror", "-q", str(git_repo.path), str(path)],
            check=True,
            capture_output=True,
        )

    shutil.rmtree(path, ignore_errors=True)
    yield clone
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def history(git_repo):
    """live, then a merged feature branch with a Django migration, then two commits on main."""
    live = git_repo.head()
    git_repo.git("checkout", "-q", "-b", "feature")
    git_repo.commit("shop/migrations/0002_price.py", "ops = []\n", "Add the price column")
    git_repo.git("checkout", "-q", "main")
    git_repo.commit("shop/views.py", "x = 1\n", "Show prices <b>bold</b>")
    git_repo.git("merge", "-q", "--no-ff", "feature", "-m", "Merge branch feature")
    git_repo.commit("README.md", "more\n", "Say more in the README")
    return live, git_repo.head()


def test_it_counts_commits_and_merges_and_flags_migrations(project, cloned, history):
    live, target = history
    cloned()
    out = outgoing.between(project, live, target)
    assert (out.total, out.merges, out.summary) == (4, 1, "4 commits, 1 merge")
    assert [c.subject for c in out.commits] == [
        "Say more in the README",
        "Merge branch feature",
        "Show prices <b>bold</b>",
        "Add the price column",
    ]
    assert out.commits[0].author == "Test" and out.commits[0].sha == target
    assert out.migrations == ["shop/migrations/0002_price.py"]
    assert out.behind == 0


def test_the_list_is_capped_and_says_how_many_more(project, git_repo, cloned, settings):
    live = git_repo.head()
    for n in range(outgoing.LISTED + 5):
        git_repo.commit("counter.txt", f"{n}\n", f"Commit {n}")
    cloned()
    out = outgoing.between(project, live, git_repo.head())
    assert (len(out.commits), out.total, out.more) == (outgoing.LISTED, outgoing.LISTED + 5, 5)


@pytest.mark.parametrize(
    "path",
    [
        "app/migrations/0001_initial.py",  # Django
        "db/migrate/20240101000000_create_users.rb",  # Rails
        "alembic/versions/3c4d_add_table.py",  # Alembic
        "migrations/versions/3c4d_add_table.py",  # Flask-Migrate
        "prisma/migrations/20240101_init/migration.sql",  # Prisma
        "migrations/20240101_users.js",  # Knex
        "server/migrations/20240101_users.ts",
    ],
)
def test_the_default_globs_know_the_common_frameworks(path):
    assert outgoing.looks_like_migration(path, outgoing.DEFAULT_MIGRATION_GLOBS)


@pytest.mark.parametrize(
    "path", ["app/migrations/__init__.py", "app/models.py", "docs/migrate.md", "README.md"]
)
def test_ordinary_files_are_not_flagged(path):
    assert not outgoing.looks_like_migration(path, outgoing.DEFAULT_MIGRATION_GLOBS)


def test_an_environment_sets_its_own_globs(project, cloned, git_repo):
    environment = make_environment(project, migration_globs="sql/*.sql\n  \n")
    live = git_repo.head()
    git_repo.commit("sql/001.sql", "create table x();\n", "Add x")
    git_repo.commit("app/migrations/0001_x.py", "\n", "Django, not flagged here")
    cloned()
    globs = outgoing.globs_of(environment)
    assert globs == ["sql/*.sql"]
    assert outgoing.between(project, live, git_repo.head(), globs).migrations == ["sql/001.sql"]


def test_going_back_in_history_says_so(project, cloned, history):
    live, target = history
    cloned()
    out = outgoing.between(project, target, live)
    assert (out.total, out.behind) == (0, 4)


def test_unknown_commits_give_nothing(project, cloned, history):
    cloned()
    assert outgoing.between(project, "0" * 40, history[1]) is None
    assert outgoing.between(project, "--output=/tmp/x", history[1]) is None


def test_the_deploy_page_lists_what_goes_out_from_what_is_live(
    client_for, alice, project, cloned, history
):
    live, target = history
    cloned()
    environment = make_environment(project)
    make_deploy(project, environment, sha=live)
    deploy = make_deploy(project, environment, state=State.QUEUED, sha=target)
    page = client_for(alice).get(deploy.get_absolute_url()).content.decode()
    assert "4 commits, 1 merge" in page
    assert "Show prices &lt;b&gt;bold&lt;/b&gt;" in page  # the repository's text is escaped
    assert "shop/migrations/0002_price.py" in page
    assert f'title="{live}"' in page


def test_a_finished_deploy_keeps_what_it_brought(client_for, alice, project, cloned, history):
    live, target = history
    cloned()
    environment = make_environment(project)
    make_deploy(project, environment, sha=live)
    deploy = make_deploy(project, environment, sha=target)
    make_deploy(project, environment, sha=live)  # rolled back since: it changes nothing here
    page = client_for(alice).get(deploy.get_absolute_url()).content.decode()
    assert "4 commits, 1 merge" in page and "the deploy before it" in page


def test_heroku_s_live_commit_is_the_base_when_known(project, cloned, history):
    live, target = history
    cloned()
    environment = make_environment(project)
    make_deploy(project, environment, sha=target)  # herokucd's last success...
    LiveRelease.objects.create(  # ...but Heroku says the app runs `live` (a release by hand)
        environment=environment,
        app_name=environment.app_name,
        version=9,
        commit=live,
        checked_at=timezone.now(),
    )
    environment.refresh_from_db()
    assert outgoing.live_commit(environment) == live
    assert outgoing.for_confirmation(environment, target).total == 4


def test_the_deploy_confirmation_lists_the_commits_and_migrations(
    client_for, alice, project, git_repo, cloned, history
):
    live, _ = history
    git_repo.git("branch", "release-1")
    cloned()
    environment = make_environment(
        project, "production", branch="/release-.*/", confirm_manual_deploys=True
    )
    make_deploy(project, environment, sha=live)
    response = client_for(alice).post(
        f"/projects/{project.slug}/deploy/", {"environment": environment.pk, "ref": "release-1"}
    )
    page = response.content.decode()
    assert "What is going out" in page and "4 commits, 1 merge" in page
    assert "1 file looks like a database migration" in page
    assert "Say more in the README" in page


def test_the_project_page_says_how_far_live_is_behind_its_branch(
    client_for, alice, project, cloned, history
):
    live, _ = history
    cloned()
    environment = make_environment(project, branch="main")
    LiveRelease.objects.create(
        environment=environment,
        app_name=environment.app_name,
        version=3,
        commit=live,
        checked_at=timezone.now(),
        read_at=timezone.now(),
    )
    page = client_for(alice).get(f"/projects/{project.slug}/").content.decode()
    assert 'data-behind="4"' in page and "4 commits behind" in page
    home = client_for(alice).get("/").content.decode()
    assert "4 commits behind main" in home


def test_behind_is_unknown_without_a_mirror(project):
    environment = make_environment(project, branch="main")
    assert outgoing.behind_branch(project, environment, "a" * 40) is None
