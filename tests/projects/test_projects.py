"""Projects: creating one, who sees it, who may change its members."""

import pytest

from projects.models import Membership, Project, Role
from tests.conftest import allow_project_creation

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(make_user):
    """alice may create projects (tests/security/test_access.py tests who may)."""
    return allow_project_creation(make_user("alice"))


def new_project(client, **data):
    return client.post("/projects/new/", {"name": "Shop", "default_branch": "main", **data})


def test_a_project_is_created_from_a_readable_repository_and_its_creator_is_admin(
    client_for, alice, git_repo
):
    response = new_project(client_for(alice), repository_url=str(git_repo.path))
    project = Project.objects.get()
    assert response["Location"] == "/projects/shop/"
    assert project.slug == "shop" and project.created_by == alice
    assert Membership.objects.get(project=project).role == Role.ADMIN


def test_an_unreadable_repository_is_rejected_in_one_message_and_nothing_saved(
    client_for, alice, tmp_path
):
    response = new_project(client_for(alice), repository_url=str(tmp_path / "nowhere"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "git could not read this repository" in page
    # git's own words would tell a missing folder from one that is not a repository.
    assert "does not appear to be a git repository" not in page
    assert not Project.objects.exists() and not Membership.objects.exists()


def test_a_default_branch_missing_from_the_repository_is_named_with_the_ones_it_has(
    client_for, alice, git_repo
):
    response = new_project(
        client_for(alice), repository_url=str(git_repo.path), default_branch="develop"
    )
    assert "The repository has no branch “develop”. It has: main." in response.content.decode()
    assert not Project.objects.exists()


def test_a_taken_slug_is_refused(client_for, alice, project, git_repo):
    response = new_project(
        client_for(alice), name="Other", slug="foo-bar", repository_url=str(git_repo.path)
    )
    assert "A project with the slug “foo-bar” already exists." in response.content.decode()


def test_a_project_named_new_is_refused_its_url_would_be_the_new_project_page(
    client_for, alice, git_repo
):
    response = new_project(client_for(alice), name="New", repository_url=str(git_repo.path))
    assert "“new” is taken by a page of herokucd" in response.content.decode()
    assert not Project.objects.exists()


def test_home_lists_only_the_users_projects(client_for, project, charlie):
    assert "Foo Bar" not in client_for(charlie).get("/").content.decode()
    assert "No projects yet" in client_for(charlie).get("/").content.decode()


def test_an_outsider_gets_404_for_every_project_page(client_for, project, charlie):
    client = client_for(charlie)
    for url in ["/projects/foo-bar/", "/projects/foo-bar/members/"]:
        assert client.get(url).status_code == 404
    assert client.post("/projects/foo-bar/members/", {"username": "charlie"}).status_code == 404


def test_a_viewer_sees_the_project_but_gets_403_for_changing_members(
    client_for, project, bob_as, charlie
):
    client = client_for(bob_as(Role.VIEWER))
    assert client.get("/projects/foo-bar/").status_code == 200
    response = client.post("/projects/foo-bar/members/", {"username": "charlie", "role": "admin"})
    assert response.status_code == 403
    assert not project.memberships.filter(user=charlie).exists()


def test_an_admin_adds_a_member_by_username_and_changes_the_role(client_for, alice, project, bob):
    client = client_for(alice)
    client.post("/projects/foo-bar/members/", {"username": "bob", "role": "viewer"})
    member = project.memberships.get(user=bob)
    assert member.role == Role.VIEWER
    client.post(f"/projects/foo-bar/members/{member.pk}/role/", {"role": "deployer"})
    member.refresh_from_db()
    assert member.role == Role.DEPLOYER


def test_adding_an_unknown_user_says_so(client_for, alice, project):
    response = client_for(alice).post(
        "/projects/foo-bar/members/", {"username": "nobody", "role": "viewer"}
    )
    assert "There is no user “nobody”." in response.content.decode()


def test_the_last_admin_cannot_be_demoted_or_removed(client_for, alice, project):
    client = client_for(alice)
    member = project.memberships.get(user=alice)
    response = client.post(
        f"/projects/foo-bar/members/{member.pk}/role/", {"role": "viewer"}, follow=True
    )
    assert "A project needs at least one admin" in response.content.decode()
    client.post(f"/projects/foo-bar/members/{member.pk}/remove/")
    member.refresh_from_db()
    assert member.role == Role.ADMIN


def test_a_deployer_cannot_remove_members(client_for, alice, project, bob_as):
    client = client_for(bob_as(Role.DEPLOYER))
    member = project.memberships.get(user=alice)
    assert client.post(f"/projects/foo-bar/members/{member.pk}/remove/").status_code == 403
    assert project.memberships.filter(user=alice).exists()


def test_member_changes_are_in_the_audit_trail(client_for, alice, project, bob):
    client = client_for(alice)
    client.post("/projects/foo-bar/members/", {"username": "bob", "role": "viewer"})
    member = project.memberships.get(user=bob)
    client.post(f"/projects/foo-bar/members/{member.pk}/role/", {"role": "deployer"})
    client.post(f"/projects/foo-bar/members/{member.pk}/remove/")
    events = list(project.audit_events.order_by("pk").values_list("action", "details"))
    assert events == [
        ("member.added", {"member": "bob", "role": "viewer"}),
        ("member.role_changed", {"member": "bob", "role": {"from": "viewer", "to": "deployer"}}),
        ("member.removed", {"member": "bob"}),
    ]
    assert all(event.actor == alice for event in project.audit_events.all())


def test_an_empty_form_says_what_each_field_needs(client_for, alice):
    response = client_for(alice).post("/projects/new/", {"name": "", "default_branch": ""})
    page = response.content.decode()
    assert "Give the project a name" in page
    assert "Give the repository’s git URL" in page or "Give the repository&#x27;s git URL" in page
    assert "This field is required." not in page
