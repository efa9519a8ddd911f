"""Bounded work for every input: branch regexes in linear time, query parameters clamped or
refused (never a 500), error reports without connection URLs, live-log long polls that cannot
hold every server thread, and generated query strings and form input on every view."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

import pytest
import requests
from django.core.handlers.wsgi import WSGIHandler
from django.test import RequestFactory
from django.urls import URLResolver, get_resolver, reverse
from django.views.debug import ExceptionReporter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploys.models import State
from deploys.trigger_models import ApiToken
from herokucd.errors import SettingsFilter, hide_url_password
from projects.models import Environment, Role
from projects.setup_forms import clean_branch
from tests.deploys.factories import append_lines, make_deploy, make_environment

pytestmark = pytest.mark.django_db(transaction=True)

HYPOTHESIS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# Branch patterns ---------------------------------------------------------------------------


@pytest.mark.timeout(5)
@pytest.mark.parametrize("length", [26, 40, 5000])
def test_a_catastrophic_pattern_answers_at_once_on_a_long_branch_name(project, length):
    environment = make_environment(project, branch="/(a+)+b/")
    assert environment.matches("a" * length) is False
    assert environment.matches("a" * length + "b") is True


def test_a_pattern_is_matched_whole(project):
    environment = make_environment(project, branch="/feature_.*/")
    assert environment.matches("feature_login")
    assert not environment.matches("my-feature_login")


@pytest.mark.parametrize("pattern", [r"/(a)\1/", "/(?=main)main/", "/(?<!x)main/"])
def test_a_pattern_re2_cannot_run_is_refused_on_save_with_why(pattern):
    from django import forms

    with pytest.raises(forms.ValidationError) as refused:
        clean_branch(pattern)
    message = refused.value.messages[0]
    assert "does not compile" in message and "Backreferences and lookaround" in message


def test_the_settings_page_refuses_a_lookaround_pattern_and_keeps_the_old_one(
    project, client_for, alice
):
    environment = make_environment(project, branch="main")
    path = reverse("environment_options", args=[project.slug, environment.pk])
    page = client_for(alice).get(path)
    assert page.status_code == 200
    form = page.context["form"]
    data = {name: value for name, value in form.initial.items() if value is not None}
    data |= {"branch": "/(?!wip).*/"}
    data = {key: value for key, value in data.items() if not isinstance(value, list | dict)}
    response = client_for(alice).post(path, data)
    assert response.status_code == 200
    assert "Backreferences and lookaround are not supported" in response.content.decode()
    environment.refresh_from_db()
    assert environment.branch == "main"


# Query parameters out of range -------------------------------------------------------------


@pytest.fixture
def running(project):
    deploy = make_deploy(project, state=State.RUNNING)
    append_lines(deploy, ["one", "two"])
    return deploy


def log_url(deploy, name="deploy_log"):
    return reverse(name, args=[deploy.project.slug, deploy.number])


@pytest.mark.parametrize("after", [str(10**20), "-5", "1e9", "nope", "9" * 5000])
def test_a_log_cursor_out_of_range_is_clamped(client_for, alice, running, after):
    response = client_for(alice).get(log_url(running), {"after": after})
    assert response.status_code == 200
    numbers = [line[0] for line in response.json()["lines"]]
    assert numbers in ([], [1, 2])  # clamped to the end, or to the start


@pytest.mark.timeout(10)
@pytest.mark.parametrize("timeout", ["nan", "inf", "-inf", "1e308", "-1"])
def test_a_long_poll_timeout_out_of_range_is_clamped(client_for, alice, running, timeout):
    query = {"after": 2, "wait": 1, "timeout": timeout, "version": "other"}
    response = client_for(alice).get(log_url(running), query)
    assert response.status_code == 200


def test_a_history_page_far_past_the_end_is_an_empty_page(client_for, alice, project, running):
    path = reverse("deploy_history", args=[project.slug])
    response = client_for(alice).get(path, {"page": str(10**20)})
    assert response.status_code == 200
    assert response.context["page"].number == 1_000_000 and not response.context["page"].deploys


def test_the_api_log_cursor_is_clamped_or_refused(client, alice, running):
    token = ApiToken.issue(alice, "tests")[1]
    headers = {"Authorization": f"Bearer {token}"}
    path = log_url(running, "api_deploy_log")
    assert client.get(path, {"after": str(10**20)}, headers=headers).json()["lines"] == []
    refused = client.get(path, {"after": "x"}, headers=headers)
    assert refused.status_code == 400 and "after must be a line number" in refused.json()["error"]


# Error reports -----------------------------------------------------------------------------


def error_page(request) -> str:
    """The technical 500 page of an error in this function (its frames hold no secret)."""
    try:
        raise RuntimeError("boom")
    except RuntimeError as error:
        reporter = ExceptionReporter(request, type(error), error, error.__traceback__)
        return reporter.get_traceback_html()


PW = "hunter" + "2"  # never whole in this file's source, which the page shows around frames


def test_the_debug_error_page_hides_connection_urls_and_url_passwords(settings):
    settings.REDIS_URL = f"redis://:{PW}-redis@cache.internal:6379/0"
    settings.CACHES = {"default": {"LOCATION": f"redis://u:{PW}-cache@cache.internal:6379/1"}}
    settings.SOME_SERVICE = f"https://bot:{PW}-service@example.com/path"
    request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1")
    request.META["DATABASE_URL"] = f"postgres://app:{PW}-db@db.internal/app"
    request.META["EMAIL_URL"] = f"smtp://mailer:{PW}-mail@smtp.internal:587"
    html = error_page(request)
    assert PW not in html
    assert "cache.internal" not in html  # REDIS_URL and a LOCATION are hidden whole
    assert "db.internal" not in html and "smtp.internal" not in html
    assert "https://bot:********************@example.com/path" in html


def test_url_passwords_are_hidden_wherever_they_are():
    text = "see https://ci-bot:ghp_abc@github.com/x and redis://:pw@h:1 and http://host/a@b"
    assert hide_url_password(text) == (
        "see https://ci-bot:********************@github.com/x and "
        "redis://:********************@h:1 and http://host/a@b"
    )
    assert isinstance(SettingsFilter().get_safe_settings()["DATABASES"], dict)


# Long polls cannot take every thread -------------------------------------------------------


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class PoolServer(WSGIServer):
    """A web server with a fixed number of threads, as gunicorn's gthread worker has."""

    def __init__(self, threads):
        super().__init__(("127.0.0.1", 0), QuietHandler)
        self.set_app(WSGIHandler())
        self.pool = ThreadPoolExecutor(threads)

    def process_request(self, request, client_address):
        self.pool.submit(self._handle, request, client_address)

    def _handle(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        finally:
            self.shutdown_request(request)


@pytest.fixture
def server():
    server = PoolServer(threads=3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.pool.shutdown(wait=True)
    server.server_close()


def session_for(client, user):
    client.force_login(user, backend="projects.backends.ModelBackend")
    session = requests.Session()
    session.cookies.update({name: morsel.value for name, morsel in client.cookies.items()})
    return session


def long_poll(session, base, deploy):
    query = {"after": 2, "wait": 1, "timeout": 6}
    return session.get(base + log_url(deploy), params=query, timeout=30)


@pytest.mark.timeout(60)
def test_waiting_long_polls_do_not_stall_the_sign_in_page(server, client, alice, running, settings):
    settings.LOG_WAIT_MAX_PER_PROCESS = 2
    settings.LOG_WAIT_MAX_PER_USER = 10
    session = session_for(client, alice)
    with ThreadPoolExecutor(5) as pool:
        polls = [pool.submit(long_poll, session, server, running) for _ in range(5)]
        refused = [poll.result() for poll in _first_done(polls, 3)]
        login = requests.get(server + "/login/", timeout=30)
        assert login.status_code == 200 and "Sign in" in login.text
        waiting = [poll for poll in polls if not poll.done()]
        assert len(waiting) == 2  # still holding their threads while /login/ answered
        assert all(answer.status_code == 429 for answer in refused)
        assert refused[0].headers["Retry-After"] == "2"
        assert "Too many live log requests" in refused[0].json()["error"]
        assert [poll.result().status_code for poll in waiting] == [200, 200]


@pytest.mark.timeout(60)
def test_one_user_cannot_take_every_waiting_slot(server, client, alice, bob_as, running, settings):
    settings.LOG_WAIT_MAX_PER_PROCESS = 10
    settings.LOG_WAIT_MAX_PER_USER = 1
    from django.test import Client

    alice_session = session_for(client, alice)
    bob_session = session_for(Client(), bob_as(Role.VIEWER))
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(long_poll, alice_session, server, running)
        time.sleep(0.5)  # alice's first poll is waiting
        second = long_poll(alice_session, server, running)
        assert second.status_code == 429  # answered at once, while the first waits
        assert not first.done()
        bobs = pool.submit(long_poll, bob_session, server, running)
        time.sleep(0.5)
        assert not bobs.done()  # bob waits as usual
        assert first.result().status_code == 200 and bobs.result().status_code == 200


def _first_done(futures, count):
    """The first `count` of `futures` to finish."""
    deadline = time.monotonic() + 20
    while sum(future.done() for future in futures) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return [future for future in futures if future.done()]


# Generated input on every view -------------------------------------------------------------

NAMES = ["after", "limit", "wait", "timeout", "version", "q", "page", "environment", "state"]
NAMES += ["branch", "next", "step", "ref", "number", "weeks"]
VALUES = st.one_of(
    st.integers().map(str),
    st.integers(min_value=10**18, max_value=10**400).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.text(max_size=40),
    st.sampled_from(["\x00", "1\x00", "%00", "-0", "1e309", "nan", "../../", "/(a+)+b/"]),
)
KEYS = st.one_of(st.sampled_from(NAMES), st.text(max_size=8))
QUERIES = st.dictionaries(KEYS, VALUES, max_size=4)


def _patterns(patterns, converters=()):
    """(named pattern, the names of every converter on its way: prefixes and its own)."""
    for pattern in patterns:
        names = (*converters, *pattern.pattern.converters)
        if isinstance(pattern, URLResolver):
            if pattern.namespace is None and not str(pattern.pattern).startswith("admin"):
                yield from _patterns(pattern.url_patterns, names)
        elif pattern.name:
            yield pattern, names


def _kwargs(converters, project, deploy, environment, alice):
    values = {
        "slug": project.slug,
        "number": deploy.number,
        "environment_id": environment.pk,
        "member_id": alice.pk,
        "target_id": 1,
        "window_id": 1,
        "event_id": 1,
        "token_id": 1,
        "action": "create",
        "public_id": "nope",
        "pk": 1,
        "token": "not-a-token",
        "uidb64": "MQ",
    }
    return {name: values[name] for name in converters}


def every_get_url(project, deploy, environment, alice):
    args = (project, deploy, environment, alice)
    found = {pattern.name: names for pattern, names in _patterns(get_resolver().url_patterns)}
    return [reverse(name, kwargs=_kwargs(found[name], *args)) for name in sorted(found)]


@pytest.fixture
def world(project, alice):
    environment = Environment.objects.create(
        project=project, name="production", branch="main", app_name="foo-bar-prod"
    )
    deploy = make_deploy(project, environment)
    append_lines(deploy, ["\x1b[31mred\x1b[0m", "plain"])
    return project, deploy, environment, alice


def test_every_named_url_is_covered(world):
    urls = every_get_url(*world)
    assert len(urls) >= 30
    assert any(url.endswith("/log") for url in urls) and any("/api/v1/" in url for url in urls)


@HYPOTHESIS
@given(query=QUERIES)
def test_no_query_string_gives_a_500_on_any_page(world, client_for, query):
    alice = world[3]
    signed_in = client_for(alice)
    headers = {"Authorization": f"Bearer {_token(alice)}"}
    for url in every_get_url(*world):
        response = signed_in.get(url, query, headers=headers if "/api/" in url else {})
        assert response.status_code < 500, (url, query, response.status_code)


_TOKENS: dict[int, str] = {}


def _token(user):
    if user.pk not in _TOKENS or not ApiToken.objects.filter(user=user).exists():
        _TOKENS[user.pk] = ApiToken.issue(user, "tests")[1]
    return _TOKENS[user.pk]


FIELDS = st.dictionaries(
    st.sampled_from(["branch", "name", "app_name", "q", "username", "password", "ref", "token"]),
    VALUES,
    max_size=5,
)


@HYPOTHESIS
@given(data=FIELDS)
def test_no_form_input_gives_a_500(world, client_for, data):
    project, _, environment, alice = world
    signed_in = client_for(alice)
    for url in [
        reverse("environment_options", args=[project.slug, environment.pk]),
        reverse("project_settings", args=[project.slug]),
        reverse("deploy_new", args=[project.slug]),
        reverse("project_new"),
        reverse("members", args=[project.slug]),
        reverse("github_token", args=[project.slug]),
        reverse("login"),
    ]:
        response = signed_in.post(url, data, REMOTE_ADDR="192.0.2.10")
        assert response.status_code < 500, (url, data, response.status_code)
    environment.refresh_from_db()
    environment.matches("a" * 5000)  # whatever was saved matches in linear time
