"""The live log in Chromium against the dashboard under uvicorn (ASGI, as the web process runs
it): the page follows a deploy through server-sent events, resumes each stream the server closes
mid-deploy with no line missing and none twice, and stops receiving once its viewer loses access.
"""

import time

import pytest
from django.test import Client
from django.utils import timezone

from deploys.models import Deploy, State, StepState
from projects.models import Membership, Role
from tests.deploys.factories import append_lines, make_deploy, make_steps

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Every line number each `lines` event brought, in the order they came, as the page's own
# EventSource received them.
RECORD_EVENTS = """
(() => {
  const Original = window.EventSource;
  window.receivedLines = [];
  window.EventSource = class extends Original {
    constructor(...args) {
      super(...args);
      this.addEventListener("lines", (event) => {
        JSON.parse(event.data).forEach((line) => window.receivedLines.push(line[0]));
      });
    }
  };
})();
"""


@pytest.fixture
def open_as(chromium, asgi_server):
    contexts = []

    def open_page(user, path):
        client = Client()
        client.force_login(user, backend="projects.backends.ModelBackend")
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        cookie = {"name": "sessionid", "value": client.cookies["sessionid"].value}
        context.add_cookies([cookie | {"url": asgi_server.url}])
        contexts.append(context)
        page = context.new_page()
        page.add_init_script(RECORD_EVENTS)
        page.streams = []  # requests for a stream: their Last-Event-ID, read once the test ends
        page.on("request", lambda r: "/log/stream" in r.url and page.streams.append(r))
        page.goto(asgi_server.url + path)
        page.wait_for_selector("#log[data-ready='1']")
        return page

    yield open_page
    Deploy.objects.filter(state=State.RUNNING).update(state=State.CANCELED)
    for context in contexts:
        context.close()


def running_deploy(project, lines):
    deploy = make_deploy(project, state=State.RUNNING, finished_at=None)
    make_steps(deploy, [StepState.RUNNING], first_lines={1: 1})
    append_lines(deploy, [f"line {n}" for n in range(1, lines + 1)])
    return deploy


def test_the_page_follows_a_deploy_through_streams_the_server_closes_with_no_gap_or_repeat(
    open_as, alice, project, settings
):
    settings.LIVE_STREAM_MAX_SECONDS = 1.0  # the server ends each stream after a second
    deploy = running_deploy(project, lines=3)
    page = open_as(alice, deploy.get_absolute_url())
    page.wait_for_selector("#L3")
    for n in range(4, 61):
        append_lines(deploy, [f"line {n}"])
        time.sleep(0.05)
    Deploy.objects.filter(pk=deploy.pk).update(
        state=State.SUCCEEDED, finished_at=timezone.now(), release_version=9
    )
    deploy.steps.update(state=StepState.SUCCEEDED)
    page.wait_for_selector("#deploy-state.state-succeeded")
    page.wait_for_selector("#L60", state="attached")
    # Lines 1-3 were on the page before its stream opened (after=3); the streams brought the
    # rest, each once, in order, across the server's closes.
    assert page.evaluate("window.receivedLines") == list(range(4, 61))
    ids = [request.all_headers().get("last-event-id") for request in page.streams]
    assert len(ids) >= 2 and ids[0] is None and all(ids[1:]), ids
    texts = page.locator("#log .log-line .tx").all_inner_texts()
    assert texts == [f"line {n}" for n in range(1, 61)]
    assert page.inner_text("#deploy-release") == "v9"


def test_a_viewer_who_loses_access_stops_receiving_lines(open_as, bob_as, project, settings):
    settings.LIVE_STREAM_ACCESS_SECONDS = 0.3
    bob = bob_as(Role.VIEWER)
    deploy = running_deploy(project, lines=2)
    page = open_as(bob, deploy.get_absolute_url())
    append_lines(deploy, ["still a member"])
    page.wait_for_selector("#L3")
    Membership.objects.filter(user=bob, project=project).delete()
    time.sleep(1.0)  # the stream's next access check
    append_lines(deploy, ["after bob left"])
    time.sleep(2.0)
    assert page.locator("#L4").count() == 0
    assert "after bob left" not in page.content()
    assert page.evaluate("window.receivedLines") == [3]
