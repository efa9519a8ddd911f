"""Sign-in, the first administrator, and sign-in throttling."""

import pytest
from django.contrib.auth import get_user_model

from projects.access import issue_setup_token
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_a_fresh_install_leads_to_creating_the_first_administrator(client):
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == "/setup/first-admin/"
    assert "Create the first administrator" in response.content.decode()


def test_the_first_administrator_is_created_signed_in_and_the_page_is_gone(client):
    response = client.post(
        "/setup/first-admin/",
        {
            "setup_token": issue_setup_token(),
            "username": "root",
            "email": "root@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 302
    user = get_user_model().objects.get()
    assert user.username == "root" and user.is_superuser and user.is_staff
    assert client.get("/").status_code == 200  # signed in
    assert client.get("/setup/first-admin/").status_code == 404


def test_the_first_administrator_form_explains_a_weak_password(client):
    response = client.post(
        "/setup/first-admin/",
        {
            "setup_token": issue_setup_token(),
            "username": "root",
            "email": "",
            "password1": "123",
            "password2": "123",
        },
    )
    assert response.status_code == 200
    assert "This password is too short" in response.content.decode()
    assert not get_user_model().objects.exists()


def test_once_a_user_exists_the_first_admin_page_is_404_even_when_signed_out(client, alice):
    assert client.get("/setup/first-admin/").status_code == 404
    assert client.get("/login/").status_code == 200


def test_sign_in_and_out(client, alice):
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    client.post("/logout/")
    assert client.get("/").status_code == 302


def fail_sign_in(client, username, times, **headers):
    for _ in range(times):
        response = client.post("/login/", {"username": username, "password": "wrong"}, **headers)
    return response


def test_repeated_failures_lock_that_username(client, alice, settings):
    fail_sign_in(client, "alice", settings.AXES_FAILURE_LIMIT)
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()


def test_a_forged_forwarded_for_header_does_not_dodge_the_lock(client, alice, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        fail_sign_in(client, "alice", 1, HTTP_X_FORWARDED_FOR=f"10.0.0.{n}", REMOTE_ADDR=IP_A)
    response = client.post(
        "/login/",
        {"username": "alice", "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="10.9.9.9",
        REMOTE_ADDR=IP_A,
    )
    assert response.status_code == 429


IP_A, IP_B = "203.0.113.7", "198.51.100.9"


def test_failures_from_one_address_do_not_lock_the_user_out_elsewhere(client, alice, settings):
    fail_sign_in(client, "alice", settings.AXES_FAILURE_LIMIT, REMOTE_ADDR=IP_A)
    response = client.post("/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR=IP_B)
    assert response.status_code == 302  # the real alice, from her own address
    client.post("/logout/")
    response = client.post("/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR=IP_A)
    assert response.status_code == 429  # the attacker's address stays locked for alice
    assert "Too many failed sign-ins" in response.content.decode()


def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(client, alice, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.1"  # every request comes through the same router
    attacker = {"REMOTE_ADDR": proxy, "HTTP_X_FORWARDED_FOR": f"6.6.6.6, {IP_A}"}
    fail_sign_in(client, "alice", settings.AXES_FAILURE_LIMIT, **attacker)
    response = client.post(
        "/login/",
        {"username": "alice", "password": PASSWORD},
        REMOTE_ADDR=proxy,
        HTTP_X_FORWARDED_FOR=IP_B,
    )
    assert response.status_code == 302
    client.post("/logout/")
    # A forged leftmost entry does not change the address the router saw.
    attacker["HTTP_X_FORWARDED_FOR"] = f"1.2.3.4, {IP_A}"
    response = client.post("/login/", {"username": "alice", "password": PASSWORD}, **attacker)
    assert response.status_code == 429


def test_one_users_failures_do_not_lock_out_another_user(client, alice, bob, settings):
    fail_sign_in(client, "alice", settings.AXES_FAILURE_LIMIT + 2)
    response = client.post("/login/", {"username": "bob", "password": PASSWORD})
    assert response.status_code == 302


def test_the_lock_expires_by_itself(client, alice, settings):
    from datetime import timedelta

    from axes.models import AccessAttempt

    fail_sign_in(client, "alice", settings.AXES_FAILURE_LIMIT)
    # Move the failures back past the cool-off period, as time passing would.
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(hours=1)
    )
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302


def test_failures_slow_down_sign_in_before_the_lock(client, alice):
    from datetime import timedelta

    from axes.models import AccessAttempt

    fail_sign_in(client, "alice", 3)
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert "wait 2 seconds, then try again" in response.content.decode()
    assert AccessAttempt.objects.get().failures_since_start == 3  # refused unchecked
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(seconds=3)
    )
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302


def test_an_overlong_username_is_refused_saying_why(client, alice):
    response = client.post("/login/", {"username": "a" * 300, "password": "wrong"})
    assert response.status_code == 200
    assert "A username has at most 150 characters, none of them NUL." in response.content.decode()


def test_a_username_with_a_nul_byte_is_refused_saying_why(client, alice):
    from axes.models import AccessAttempt

    response = client.post("/login/", {"username": "ali\x00ce", "password": "wrong"})
    assert response.status_code == 200
    assert "none of them NUL" in response.content.decode()
    assert not AccessAttempt.objects.exists()  # refused before it was recorded
