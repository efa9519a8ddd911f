"""Hypothesis-generated input for every form and for the webhook endpoint: never a server error,
never a secret in the answer.

Each form's fields are read from its page as rendered (so a new field is fuzzed without editing
this file) and filled with arbitrary text, including the near-valid values that reach deeper
validation (a real app name, an API key, a branch). 500 examples each.
"""

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projects.models import DeployKey
from tests.conftest import allow_project_creation
from tests.triggers.conftest import SECRET, sign

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FIELD = re.compile(r'<(?:input|select|textarea)\b[^>]*\bname="([^"]+)"')
NEAR_VALID = [
    "",
    "main",
    "foo-bar-123",
    "not-yours-app",
    "production",
    "bob",
    "deployer",
    "admin",
    "viewer",
    "on",
    "0",
    "-1",
    "99999999999",
    "/main|release-.*/",
    "/(a+)+$/",
    "https://example.com/",
    "javascript:alert(1)",
    "<script>alert(1)</script>",
    "version: 2\njobs: {build: {steps: [checkout]}}\n",
    "deployment:\n  production:\n    branch: main\n    heroku:\n      appname: foo-bar-123\n",
    "\x00",
    "a" * 5000,
]
VALUES = st.one_of(st.sampled_from(NEAR_VALID), st.text(max_size=300))


def form_fields(client, url):
    page = client.get(url)
    assert page.status_code == 200, url
    return sorted(set(FIELD.findall(page.content.decode())) - {"csrfmiddlewaretoken"})


def secrets_of(sim):
    return [sim.api_key, SECRET]


def fuzz_form(client, url, sim, names=None):
    names = form_fields(client, url) if names is None else names
    # A page of buttons only (wizard step 2) gets arbitrary fields posted to its URL and actions.
    data = (
        st.fixed_dictionaries(dict.fromkeys(names, VALUES))
        if names
        else st.dictionaries(st.text(min_size=1, max_size=20), VALUES, max_size=5)
    )

    @EXAMPLES
    @given(data)
    def post(data):
        assert_safe(client.post(url, data), sim, data)

    post()


@pytest.fixture
def admin_client(client_for, alice, environment, endpoint, queue, sim):
    """alice (admin) signed in on a project set up for the simulator, with a webhook; she may
    create projects."""
    return client_for(allow_project_creation(alice))


FORMS = [
    "/projects/new/",
    "/projects/foo-bar/members/",
    "/projects/foo-bar/heroku/setup/1/",
    "/projects/foo-bar/heroku/setup/2/",
    "/projects/foo-bar/heroku/setup/2/{action}/",
    "/projects/foo-bar/heroku/setup/3/",
    "/projects/foo-bar/settings/",
    "/projects/foo-bar/settings/environments/{environment}/",
    "/projects/foo-bar/settings/import/",
    "/projects/foo-bar/deploy/",
    "/projects/foo-bar/notifications/",
    "/account/tokens/",
]


@pytest.mark.parametrize("url", FORMS)
def test_no_form_gives_a_server_error_or_echoes_a_secret(admin_client, environment, sim, url):
    if "{action}" in url:
        fuzz_actions(admin_client, url, sim)
        return
    fuzz_form(admin_client, url.format(environment=environment.pk), sim)


# Wizard step 2's actions read no input: what varies is the action named in the URL. Any name
# but the three actions is refused before Heroku is called, so 500 of those are cheap; set-user
# really registers a key on the simulator (about 0.1 s each), so it gets fewer examples, enough
# to show that what is posted with it changes nothing (replace/remove take the same path).
ACTIONS = st.one_of(
    st.sampled_from(["nonsense", "set-user/x", "SET-USER", "..", "%00"]),
    st.text(st.characters(codec="ascii", exclude_characters="/?#%"), min_size=1, max_size=30),
)
SET_USER_EXAMPLES = 40


def fuzz_actions(client, url, sim):
    @EXAMPLES
    @given(ACTIONS.filter(lambda name: name not in ("set-user", "replace", "remove")))
    def post_other(action):
        data = {"deploy_user": action}
        assert_safe(client.post(url.format(action=action), data), sim, data)

    post_other()

    @settings(EXAMPLES, max_examples=SET_USER_EXAMPLES)
    @given(st.dictionaries(st.text(min_size=1, max_size=20), VALUES, max_size=5))
    def post_set_user(data):
        assert_safe(client.post(url.format(action="set-user"), data), sim, data)

    post_set_user()
    registered = DeployKey.objects.get(project__slug="foo-bar")
    assert registered.heroku_key_id, "set-user should have registered a key on the simulator"


def assert_safe(response, sim, data):
    assert response.status_code < 500, data
    body = response.content.decode(errors="replace")
    for secret in secrets_of(sim):
        assert secret not in body


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "action",
                    "workflow_run",
                    "check_suite",
                    "head_branch",
                    "head_sha",
                    "conclusion",
                    "branches",
                    "name",
                    "sha",
                    "state",
                    "id",
                    "workflow",
                    "status",
                    "pipeline",
                    "vcs",
                    "branch",
                    "revision",
                    "trigger_parameters",
                    "git",
                    "object_attributes",
                    "ref",
                    "tag",
                ]
            )
            | st.text(max_size=10),
            children,
            max_size=6,
        )
    ),
    max_leaves=30,
)
PROVIDERS = {
    "github": lambda body, event: {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": "d",
        "X-Hub-Signature-256": f"sha256={sign(SECRET, body)}",
    },
    "circleci": lambda body, event: {
        "circleci-event-type": event,
        "circleci-signature": f"v1={sign(SECRET, body)}",
    },
    "gitlab": lambda body, event: {"X-Gitlab-Event": event, "X-Gitlab-Token": SECRET},
    "generic": lambda body, event: {"X-Hub-Signature-256": f"sha256={sign(SECRET, body)}"},
}
EVENTS = st.sampled_from(
    ["workflow_run", "check_suite", "status", "workflow-completed", "Pipeline Hook", "ping", ""]
)


def test_the_webhook_never_gives_a_server_error_on_signed_arbitrary_bodies(
    client, environment, endpoint, queue, sim
):
    url = endpoint.get_absolute_url()

    @EXAMPLES
    @given(
        st.one_of(JSON.map(lambda v: json.dumps(v).encode()), st.binary(max_size=300)),
        st.sampled_from(sorted(PROVIDERS)),
        EVENTS,
        st.text(max_size=40),
    )
    def post(body, provider, event, delivery):
        headers = PROVIDERS[provider](body, event)
        headers["X-GitHub-Delivery"] = headers["X-Herokucd-Delivery"] = delivery.encode(
            "ascii", "ignore"
        ).decode()
        response = client.post(url, data=body, content_type="application/json", headers=headers)
        assert response.status_code < 500, body
        assert SECRET not in response.content.decode(errors="replace")

    post()
