"""Who gets into the installation and what they may do there: the first administrator's setup
token, invitations, password reset by email, and who may create projects."""

import re
from datetime import timedelta
from io import StringIO

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from projects.access import issue_setup_token
from projects.access_models import Invitation, SetupToken
from projects.models import Project
from tests.concurrency import at_once
from tests.conftest import PASSWORD, allow_project_creation

pytestmark = pytest.mark.django_db
User = get_user_model()
CONCURRENT = 6


def first_admin_data(token, username="root"):
    return {
        "setup_token": token,
        "username": username,
        "email": "",
        "password1": PASSWORD,
        "password2": PASSWORD,
    }


def raw_rows(model):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {model._meta.db_table}")  # noqa: S608
        return [" ".join(map(str, row)) for row in cursor.fetchall()]


def signs_in(client, username, password):
    client.logout()
    response = client.post("/login/", {"username": username, "password": password})
    return response.status_code == 302


# The first administrator


def test_the_setup_command_prints_a_token_that_creates_the_first_administrator(client):
    out = StringIO()
    call_command("setup_token", url="http://dash.example.com", stdout=out)
    assert "http://dash.example.com/setup/first-admin/" in out.getvalue()
    token = re.search(r"^    (\S+)$", out.getvalue(), re.M).group(1)
    response = client.post("/setup/first-admin/", first_admin_data(token))
    assert response.status_code == 302
    assert User.objects.get(username="root").is_superuser


def test_the_setup_token_is_stored_only_as_a_hash(db):
    token = issue_setup_token()
    assert token not in " ".join(raw_rows(SetupToken))
    assert SetupToken.objects.count() == 1


def test_a_new_setup_token_replaces_the_previous_one(client):
    old, new = issue_setup_token(), issue_setup_token()
    response = client.post("/setup/first-admin/", first_admin_data(old))
    assert "This is not the current setup token" in response.content.decode()
    assert client.post("/setup/first-admin/", first_admin_data(new)).status_code == 302


@pytest.mark.parametrize("token", ["", "wrong-token"])
def test_a_missing_or_wrong_setup_token_is_a_form_error_and_makes_no_user(client, token):
    issue_setup_token()
    response = client.post("/setup/first-admin/", first_admin_data(token))
    page = response.content.decode()
    assert response.status_code == 200
    assert (
        "Paste the setup token printed in the console or log." in page
        if not token
        else "This is not the current setup token" in page
    )
    assert not User.objects.exists()


def test_without_any_token_issued_the_page_says_how_to_get_one(client):
    page = client.get("/setup/first-admin/").content.decode()
    assert "python manage.py setup_token" in page
    response = client.post("/setup/first-admin/", first_admin_data("anything"))
    assert "This is not the current setup token" in response.content.decode()
    assert not User.objects.exists()


def test_the_setup_token_works_once(client):
    token = issue_setup_token()
    assert client.post("/setup/first-admin/", first_admin_data(token)).status_code == 302
    assert not SetupToken.objects.exists()
    client.logout()
    assert client.post("/setup/first-admin/", first_admin_data(token, "other")).status_code == 404
    assert User.objects.count() == 1


def test_once_a_user_exists_no_setup_token_is_made(alice):
    out = StringIO()
    call_command("setup_token", stdout=out)
    assert "no setup token is needed" in out.getvalue()
    assert not SetupToken.objects.exists()


def prepared_post(url, data):
    """A session that has loaded the form (CSRF cookie and token), and its POST."""
    session = requests.Session()
    page = session.get(url, timeout=30).text
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    return lambda: session.post(
        url, data={**data, "csrfmiddlewaretoken": csrf}, timeout=60, allow_redirects=False
    )


@pytest.mark.slow
def test_concurrent_first_admin_posts_with_the_token_make_exactly_one(live_server):
    token = issue_setup_token()
    url = f"{live_server.url}/setup/first-admin/"
    posts = [prepared_post(url, first_admin_data(token, f"root{n}")) for n in range(CONCURRENT)]
    codes = [r.status_code for r in at_once(posts, timeout=60)]
    # The others are refused: the token used (a form error), or the page already gone.
    assert codes.count(302) == 1 and set(codes) <= {200, 302, 404}, codes
    assert User.objects.count() == 1 and User.objects.get().is_superuser
    assert not SetupToken.objects.exists()


# Invitations


@pytest.fixture
def admin(make_user):
    return make_user("root", is_staff=True, is_superuser=True)


def invite(client, **data):
    """The link shown after an administrator creates an invitation."""
    response = client.post("/invitations/", {"email": "", **data})
    assert response.status_code == 200
    return re.search(r'id="invitation-link"[^>]*value="([^"]+)"', response.content.decode())[1]


def join(client, link, username="dana", password=PASSWORD):
    data = {"username": username, "email": "", "password1": password, "password2": password}
    return client.post(link, data)


def test_an_invited_user_chooses_a_username_and_password_and_can_sign_in(client, client_for, admin):
    link = invite(client_for(admin), email="dana@example.com")
    client.logout()
    assert 'value="dana@example.com"' in client.get(link).content.decode()
    response = join(client, link)
    assert response.status_code == 302
    dana = User.objects.get(username="dana")
    assert not dana.is_staff and not dana.is_superuser
    assert signs_in(client, "dana", PASSWORD)


def test_an_invitation_works_once(client, client_for, admin):
    link = invite(client_for(admin))
    client.logout()
    assert join(client, link).status_code == 302
    client.logout()
    response = join(client, link, "eve")
    assert response.status_code == 410
    assert "This invitation has been used already" in response.content.decode()
    assert not User.objects.filter(username="eve").exists()


def test_the_invitation_token_is_stored_only_as_a_hash(client_for, admin):
    link = invite(client_for(admin))
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert token not in " ".join(raw_rows(Invitation))


def test_an_invitation_expires_after_the_configured_days(client, client_for, admin, settings):
    link = invite(client_for(admin))
    invitation = Invitation.objects.get()
    assert abs(invitation.expires_at - timezone.now() - timedelta(days=7)) < timedelta(minutes=1)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    client.logout()
    response = join(client, link)
    assert "This invitation has expired" in response.content.decode()
    assert not User.objects.filter(username="dana").exists()


def test_pending_invitations_are_listed_and_a_revoked_one_no_longer_works(
    client, client_for, admin
):
    link = invite(client_for(admin), email="dana@example.com")
    page = client.get("/invitations/").content.decode()
    assert "dana@example.com" in page and "Revoke" in page
    response = client.post(f"/invitations/{Invitation.objects.get().pk}/revoke/", follow=True)
    page = response.content.decode()
    assert "Invitation withdrawn" in page and "No pending invitations." in page
    client.logout()
    assert "This invitation was withdrawn" in join(client, link).content.decode()


def test_an_unknown_invitation_link_says_so(client):
    response = client.get("/account/invitation/not-a-token/")
    assert response.status_code == 404
    assert "This invitation link is not valid" in response.content.decode()


def test_only_administrators_invite(client_for, alice, admin):
    client = client_for(alice)
    response = client.get("/invitations/")
    assert response.status_code == 403
    assert client.post("/invitations/", {"email": ""}).status_code == 403
    assert not Invitation.objects.exists()


def test_an_invitation_can_let_the_new_user_create_projects(client, client_for, admin):
    link = invite(client_for(admin), may_create_projects="on")
    client.logout()
    join(client, link)
    assert client.get("/projects/new/").status_code == 200


@pytest.mark.slow
def test_concurrent_uses_of_one_invitation_make_one_user(live_server, admin):
    from projects.access import create_invitation
    from projects.access_views import InvitationForm

    form = InvitationForm({"email": ""})
    assert form.is_valid()
    url = f"{live_server.url}/account/invitation/{create_invitation(form, admin)}/"
    users = [
        {"username": f"user{n}", "email": "", "password1": PASSWORD, "password2": PASSWORD}
        for n in range(CONCURRENT)
    ]
    codes = [r.status_code for r in at_once([prepared_post(url, d) for d in users], timeout=60)]
    assert sorted(codes) == [302] + [410] * (CONCURRENT - 1), codes
    assert User.objects.exclude(pk=admin.pk).count() == 1


# Password reset by email


def test_the_emailed_link_resets_the_password(client, alice):
    response = client.post("/account/password-reset/", {"email": "alice@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@example.com"]
    link = re.search(r"http://\S+/account/reset/\S+/", mail.outbox[0].body)[0]
    form_page = client.get(link, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    new = "a new and long passphrase"
    done = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": new, "new_password2": new}, follow=True
    )
    assert "Password changed" in done.content.decode()
    assert not signs_in(client, "alice", PASSWORD)
    assert signs_in(client, "alice", new)
    assert "has been used already" in client.get(link, follow=True).content.decode()


def test_an_unknown_address_sends_nothing_and_reveals_nothing(client, alice):
    response = client.post("/account/password-reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302 and mail.outbox == []
    assert "If an account has that address" in client.get(response["Location"]).content.decode()


def test_the_sign_in_page_links_to_password_reset(client, alice):
    assert 'href="/account/password-reset/"' in client.get("/login/").content.decode()


# Who may create projects


def new_project(client, git_repo):
    data = {"name": "Shop", "repository_url": str(git_repo.path), "default_branch": "main"}
    return client.post("/projects/new/", data)


def test_an_ordinary_user_may_not_create_a_project_and_is_told_whom_to_ask(
    client_for, charlie, git_repo
):
    client = client_for(charlie)
    for response in (client.get("/projects/new/"), new_project(client, git_repo)):
        assert response.status_code == 403
        assert "Only administrators of this herokucd create projects" in response.content.decode()
    assert not Project.objects.exists()
    home = client.get("/").content.decode()
    assert "/projects/new/" not in home
    assert "Ask a project&#x27;s admin to add you" in home or "Ask a project's admin" in home


def test_an_administrator_creates_projects_and_sees_the_buttons(client_for, admin, git_repo):
    client = client_for(admin)
    assert 'href="/projects/new/"' in client.get("/").content.decode()
    assert new_project(client, git_repo).status_code == 302
    assert Project.objects.get().created_by == admin


def test_project_creators_everyone_lets_any_user_create(client_for, charlie, git_repo, settings):
    settings.PROJECT_CREATORS = "everyone"
    assert new_project(client_for(charlie), git_repo).status_code == 302


def test_an_administrator_grants_project_creation_in_the_admin(client_for, admin, charlie):
    from django.contrib.auth.models import Permission

    client = client_for(charlie)
    assert "+ New project" not in client.get("/").content.decode()
    permission = Permission.objects.get(codename="add_project")
    admin_client = client_for(admin)
    response = admin_client.post(
        f"/admin/auth/user/{charlie.pk}/change/",
        {
            "username": "charlie",
            "email": charlie.email,
            "is_active": "on",
            "user_permissions": [permission.pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    client = client_for(User.objects.get(pk=charlie.pk))
    assert client.get("/projects/new/").status_code == 200
    assert "+ New project" in client.get("/").content.decode()  # the kept top bar too


def test_a_granted_user_creates_projects(client_for, charlie, git_repo):
    allow_project_creation(charlie)
    assert new_project(client_for(charlie), git_repo).status_code == 302


def test_a_group_with_the_permission_lets_its_members_create(client_for, charlie, git_repo):
    from django.contrib.auth.models import Group, Permission

    creators = Group.objects.create(name="Project creators")
    creators.permissions.add(Permission.objects.get(codename="add_project"))
    charlie.groups.add(creators)
    assert new_project(client_for(charlie), git_repo).status_code == 302


@pytest.mark.slow
def test_the_release_phase_prints_a_working_setup_token_on_a_fresh_install(tmp_path):
    """The Procfile's release command, run as Heroku runs it, on an install of its own."""
    import hashlib
    import os
    import sqlite3
    import subprocess

    from tests.processes import ROOT

    release = next(
        line.split(":", 1)[1].strip()
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith("release:")
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(HEROKUCD_DATA_DIR=str(tmp_path), SITE_URL="https://ci.example.com")
    env["PATH"] = f"{ROOT / '.venv/bin'}:{env['PATH']}"  # `python` as on a dyno
    done = subprocess.run(
        ["bash", "-c", release], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    assert "Create one at https://ci.example.com/setup/first-admin/" in done.stdout
    token = re.search(r"^    (\S+)$", done.stdout, re.M).group(1)
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        stored = db.execute(f"SELECT token_hash FROM {SetupToken._meta.db_table}").fetchall()  # noqa: S608
    assert stored == [(hashlib.sha256(token.encode()).hexdigest(),)]


def test_an_unknown_project_creators_value_is_refused_at_startup(tmp_path):
    from tests.test_settings import run_python

    done = run_python("import django; django.setup()", tmp_path, PROJECT_CREATORS="anyone")
    assert done.returncode != 0
    assert 'PROJECT_CREATORS must be "admins" or "everyone", not "anyone".' in done.stderr


def test_email_url_configures_smtp(tmp_path):
    from tests.test_settings import run_python

    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS, s.EMAIL_HOST_USER)"
    )
    done = run_python(code, tmp_path, EMAIL_URL="smtp+tls://mailer:pw@smtp.example.com:587")
    assert done.stdout.split() == [
        "django.core.mail.backends.smtp.EmailBackend",
        "smtp.example.com",
        "587",
        "True",
        "mailer",
    ]
    done = run_python(code.replace("EMAIL_HOST_USER", "DEFAULT_FROM_EMAIL"), tmp_path)
    assert done.stdout.split()[0] == "django.core.mail.backends.console.EmailBackend"
