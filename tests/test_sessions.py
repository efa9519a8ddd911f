"""Sessions are read from Redis and kept in the database too (herokucd/sessions.py, cache.py)."""

import pytest
import redis
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.urls import reverse

pytestmark = pytest.mark.django_db

AWAY = {"LOCATION": "redis://127.0.0.1:1/0", "OPTIONS": {"socket_connect_timeout": 0.2}}


@pytest.fixture
def redis_away(settings):
    def away():
        settings.CACHES = {
            **django_settings.CACHES,
            "default": {**django_settings.CACHES["default"], **AWAY},
        }

    return away


def signed_in_as(client, username):
    page = client.get(reverse("home"))
    return page.status_code == 200 and f"<summary>{username}</summary>" in page.content.decode()


def test_a_signed_in_page_works_while_redis_is_away(client_for, alice, redis_away):
    client = client_for(alice)
    redis_away()
    assert signed_in_as(client, "alice")


def test_a_session_redis_lost_is_read_from_the_database(client_for, alice):
    client = client_for(alice)
    session_key = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    cache.delete(f"django.contrib.sessions.cached_db{session_key}")
    assert signed_in_as(client, "alice")


def test_signing_out_while_redis_is_away_fails_whole(client_for, alice, settings, redis_away):
    client = client_for(alice)
    session_key = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    caches_before = settings.CACHES
    redis_away()
    with pytest.raises(redis.ConnectionError):
        client.post(reverse("logout"))
    settings.CACHES = caches_before
    # Not half signed out (the row gone, the copy in Redis signing in until it expires): whole,
    # so signing out again once Redis is back removes both.
    assert Session.objects.filter(session_key=session_key).exists()
    assert signed_in_as(client, "alice")
    client.post(reverse("logout"))
    assert not signed_in_as(client, "alice")


def test_a_signed_out_session_cookie_signs_nobody_in(client_for, alice, client):
    signed_in = client_for(alice)
    stolen = signed_in.cookies[django_settings.SESSION_COOKIE_NAME].value
    signed_in.post(reverse("logout"))
    client.cookies[django_settings.SESSION_COOKIE_NAME] = stolen
    assert client.get(reverse("home")).status_code == 302
