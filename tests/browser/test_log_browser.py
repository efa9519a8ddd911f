"""The deploy log viewer in Debian's Chromium: live lines, escaping, permalinks, search, folding,
follow, download, and a 200,000-line log that opens fast with a bounded DOM."""

import time
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from deploys import logformat, waitslots
from deploys.models import Deploy, DeployStep, LogChunk, State, StepState
from projects.models import Role
from tests.browser.conftest import DEPLOY_PAGE
from tests.deploys.factories import (
    append_lines,
    give_key,
    ledger,
    make_deploy,
    make_environment,
    make_steps,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


# One Playwright for the whole run: `chromium` comes from tests/browser/conftest.py (a second
# sync_playwright() in the same thread fails while the first one's event loop runs).
@pytest.fixture
def open_as(chromium, live_server, transactional_db, request):
    """open_as(user, path, width=1280) -> a signed-in page at `path`; screenshots on failure."""
    contexts = []
    failures_before = request.session.testsfailed

    def open_page(user, path, width=1280, **context_options):
        client = Client()
        client.force_login(user, backend="projects.backends.ModelBackend")
        context = chromium.new_context(
            viewport={"width": width, "height": 900}, accept_downloads=True, **context_options
        )
        context.add_cookies(
            [
                {
                    "name": "sessionid",
                    "value": client.cookies["sessionid"].value,
                    "url": live_server.url,
                }
            ]
        )
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.goto(live_server.url + path)
        return page

    yield open_page
    # A page's long poll holds a server thread while its deploy runs: end those first.
    if Deploy.objects.filter(state=State.RUNNING).update(state=State.CANCELED):
        time.sleep(0.8)
    failed = request.session.testsfailed > failures_before  # the call's report is in by now
    for index, context in enumerate(contexts):
        if failed:
            for number, page in enumerate(context.pages):
                failure_shot(page, f"FAILED-{request.node.name}-{index}-{number}")
        context.close()


def failure_shot(page, name):
    """The page as a failed test left it (a passing test's screenshots go through `shoot`)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def ready(page):
    page.wait_for_selector("#log[data-ready='1']")
    return page


def deploy_with_steps(project, states, lines_per_step, state=State.SUCCEEDED):
    deploy = make_deploy(project, state=state)
    first_lines, line = {}, 1
    for position, texts in enumerate(lines_per_step, start=1):
        first_lines[position] = line
        line += len(texts)
    make_steps(deploy, states, first_lines=first_lines)
    for position, texts in enumerate(lines_per_step, start=1):
        append_lines(deploy, texts, step=position)
    return deploy


def log_lines_in_dom(page):
    return page.locator("#log .log-line").count()


# Live ------------------------------------------------------------------------------------


def test_lines_of_a_running_deploy_appear_without_reloading(open_as, alice, project, shoot):
    # How fast (p95 <= 300 ms) is measured by `make bench` (live_log_p95_ms), not asserted here.
    deploy = make_deploy(project, state=State.RUNNING, finished_at=None)
    make_steps(deploy, [StepState.RUNNING], first_lines={1: 1})
    append_lines(deploy, ["starting"])
    page = ready(open_as(alice, deploy.get_absolute_url()))
    page.wait_for_selector("#L1")
    for n in range(2, 32):
        append_lines(deploy, [f"live line {n}"])  # committed when it returns
        page.wait_for_selector(f"#L{n}", state="attached", timeout=5000)
        time.sleep(0.05)
    assert page.locator("#L31 .tx").inner_text() == "live line 31"
    assert page.get_attribute("#log-follow", "aria-pressed") == "true"
    shoot(page, "deploy-running", text=["live line 31", "Running"], boxes=DEPLOY_PAGE)


def test_the_page_stops_asking_when_the_deploy_finishes(open_as, alice, project):
    deploy = make_deploy(project, state=State.RUNNING, finished_at=None)
    make_steps(deploy, [StepState.RUNNING], first_lines={1: 1})
    append_lines(deploy, ["working"])
    page = ready(open_as(alice, deploy.get_absolute_url()))
    requests = []
    page.on("request", lambda r: "/log?" in r.url and requests.append(r.url))
    append_lines(deploy, ["done"])
    Deploy.objects.filter(pk=deploy.pk).update(state=State.SUCCEEDED, release_version=7)
    deploy.steps.update(state=StepState.SUCCEEDED)
    page.wait_for_selector("#deploy-state.state-succeeded")
    assert page.inner_text("#deploy-release") == "v7"
    asked = len(requests)
    time.sleep(1.5)
    assert len(requests) == asked


def test_a_refused_wait_is_asked_again_when_the_server_says(
    open_as, alice, project, settings, monkeypatch
):
    # The server holds no waiting request for this person now: each poll finding nothing new is
    # answered 429, Retry-After 4 s (deploys/waitslots.py). The page asks again only then, says
    # nothing alarming, and the next line still arrives.
    settings.LOG_WAIT_MAX_PER_USER = 0
    monkeypatch.setattr(waitslots, "RETRY_AFTER_SECONDS", 4)
    deploy = make_deploy(project, state=State.RUNNING, finished_at=None)
    make_steps(deploy, [StepState.RUNNING], first_lines={1: 1})
    append_lines(deploy, ["working"])
    refused = []
    page = open_as(alice, deploy.get_absolute_url(), width=1280)
    page.on("response", lambda r: "wait=1" in r.url and r.status == 429 and refused.append(r))
    ready(page)
    for _ in range(50):
        if refused:
            break
        page.wait_for_timeout(100)
    assert refused, "the server was expected to refuse the page's wait"
    page.wait_for_timeout(3000)  # a page asking every 2 s would be refused again by now
    assert len(refused) == 1
    append_lines(deploy, ["after the wait"])
    page.wait_for_selector("#L2", state="attached", timeout=8000)
    assert page.locator("#L2 .tx").inner_text() == "after the wait"
    assert page.errors == []


def start_step(deploy, position, title, first_line=None):
    DeployStep.objects.filter(deploy=deploy, state=StepState.RUNNING).update(
        state=StepState.SUCCEEDED, finished_at=timezone.now()
    )
    return DeployStep.objects.create(
        deploy=deploy,
        position=position,
        name=f"step{position}",
        title=title,
        state=StepState.RUNNING,
        started_at=timezone.now(),
        first_line=first_line,
    )


def test_a_page_opened_while_queued_follows_the_deploy_until_it_succeeds(
    open_as, alice, project, shoot
):
    deploy = make_deploy(project, state=State.QUEUED, sha="", finished_at=None)
    page = ready(open_as(alice, deploy.get_absolute_url()))
    expect(page.locator("#progress-title")).to_have_text("Not started yet")
    expect(page.locator("#deploy-commit")).to_have_text("—")
    expect(page.locator("#deploy-started")).to_have_text("Not yet")
    expect(page.get_by_role("button", name="Cancel deploy")).to_be_visible()

    # The worker picks it up: no log line yet, the header alone must change.
    sha = "0123456789abcdef0123456789abcdef01234567"
    Deploy.objects.filter(pk=deploy.pk).update(
        state=State.RUNNING, sha=sha, started_at=timezone.now()
    )
    start_step(deploy, 1, "Check out the commit", first_line=1)
    expect(page.locator("#deploy-state")).to_have_text("Running", timeout=5000)
    expect(page.locator("#deploy-commit abbr")).to_have_text("0123456")
    expect(page.locator("#deploy-commit abbr")).to_have_attribute("title", sha)
    expect(page.locator("#deploy-started")).to_have_text("just now")
    expect(page.locator("#progress-title")).to_have_text("Step 1 of 1")
    expect(page.locator("#step-list li .badge")).to_have_text("Running")
    expect(page.locator("#deploy-duration")).to_have_text("2s", timeout=5000)  # ticking

    append_lines(deploy, ["checked out"], step=1)
    start_step(deploy, 2, "Push to Heroku", first_line=2)
    append_lines(deploy, ["pushing"], step=2)
    expect(page.locator("#progress-title")).to_have_text("Step 2 of 2", timeout=5000)
    expect(page.locator("#step-list li .badge")).to_have_text(["Succeeded", "Running"])
    assert page.eval_on_selector("#steps-progress", "el => [el.value, el.max]") == [1, 2]
    page.wait_for_selector("#L2")

    requests = []
    page.on("request", lambda r: "/log?" in r.url and requests.append(r.url))
    deploy.steps.update(state=StepState.SUCCEEDED, finished_at=timezone.now())
    Deploy.objects.filter(pk=deploy.pk).update(
        state=State.SUCCEEDED,
        finished_at=timezone.now(),
        release_version=4,
        previous_release_id="release-3",
    )
    expect(page.locator("#deploy-state")).to_have_text("Succeeded", timeout=5000)
    expect(page.get_by_role("button", name="Retry deploy")).to_be_visible()
    expect(page.get_by_role("link", name="Roll back…")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel deploy")).to_have_count(0)
    expect(page.locator("#deploy-release")).to_have_text("v4")
    expect(page.locator("#step-list li .badge")).to_have_text(["Succeeded", "Succeeded"])
    assert page.eval_on_selector("#steps-progress", "el => [el.value, el.max]") == [2, 2]
    assert page.eval_on_selector("#steps-progress", "el => el.className") == "progress-succeeded"
    duration = page.inner_text("#deploy-duration")
    asked = len(requests)
    time.sleep(1.5)
    assert len(requests) == asked  # it stopped asking
    assert page.inner_text("#deploy-duration") == duration  # and stopped ticking
    assert page.errors == []
    shoot(
        page,
        "deploy-followed-from-queued",
        text=["Succeeded", "Push to Heroku", "v4"],
        boxes=[*DEPLOY_PAGE, "#deploy-actions button"],
    )


def test_a_viewer_sees_no_buttons_appear_when_the_deploy_finishes(open_as, bob_as, project):
    deploy = make_deploy(project, state=State.RUNNING, finished_at=None)
    page = ready(open_as(bob_as(Role.VIEWER), deploy.get_absolute_url()))
    Deploy.objects.filter(pk=deploy.pk).update(state=State.FAILED, finished_at=timezone.now())
    expect(page.locator("#deploy-state")).to_have_text("Failed", timeout=5000)
    assert page.locator("#deploy-actions button, #deploy-actions a").count() == 0


def test_step_states_read_the_same_words_everywhere(open_as, alice, project):
    deploy = make_deploy(project, state=State.RUNNING, finished_at=None)
    make_steps(deploy, [StepState.RUNNING, StepState.PENDING], first_lines={1: 3})
    append_lines(deploy, ["Deploying abc to staging", "Environment ready"], step=0)
    append_lines(deploy, ["cloning"], step=1)
    page = ready(open_as(alice, deploy.get_absolute_url()))
    heads = page.locator(".log-step-head .badge")
    expect(heads).to_have_text(["Succeeded", "Running", "Queued"])
    expect(page.locator(".log-step-head").first).to_contain_text("Set up")
    expect(page.locator("#step-list li .badge")).to_have_text(["Running", "Queued"])
    assert page.locator(".log-step-head .badge.state-queued").count() == 1


@pytest.mark.parametrize("width", [1280, 390])
def test_a_short_log_leaves_no_empty_panel_and_search_fills_its_row(
    open_as, alice, project, width, shoot
):
    deploy = deploy_with_steps(
        project, [StepState.SUCCEEDED, StepState.SUCCEEDED], [["one", "two"], ["three"]]
    )
    page = ready(open_as(alice, deploy.get_absolute_url(), width=width))
    empty_below = page.eval_on_selector(
        "#log",
        "el => el.getBoundingClientRect().bottom"
        " - el.lastElementChild.getBoundingClientRect().bottom",
    )
    assert 0 <= empty_below <= 2
    row = page.eval_on_selector(
        "#log-search",
        """form => { const input = form.querySelector('input').getBoundingClientRect();
                     const bar = form.parentElement.getBoundingClientRect();
                     return [input.width, bar.width]; }""",
    )
    assert row[0] > (0.6 if width == 390 else 0.3) * row[1]
    shoot(
        page,
        "deploy-short-log",
        text=["Check out the code", "Push to Heroku"],
        boxes=DEPLOY_PAGE,
        widths=[width],
    )


# Rendering -------------------------------------------------------------------------------


def test_ansi_colours_render_and_html_shows_as_text(open_as, alice, project):
    texts = [
        "\x1b[1;31mERROR\x1b[0m plain <script>window.pwned = 1</script>",
        "Downloading 10%\rDownloading 50%\rDownloading 100%",
        "\x1b[38;5;82mbright green\x1b[0m & <b>not bold</b>",
    ]
    deploy = deploy_with_steps(project, [StepState.SUCCEEDED], [texts])
    page = ready(open_as(alice, deploy.get_absolute_url()))
    error = page.locator("#L1 .tx span.a-f1.a-bold")
    assert error.inner_text() == "ERROR"
    assert "<script>window.pwned = 1</script>" in page.inner_text("#L1 .tx")
    assert page.evaluate("window.pwned") is None
    assert page.inner_text("#L2 .tx") == "Downloading 100%"
    assert "<b>not bold</b>" in page.inner_text("#L3")
    assert page.locator("#L3 b").count() == 0
    colour = page.eval_on_selector("#L1 .a-f1", "el => getComputedStyle(el).color")
    assert colour == "rgb(255, 123, 114)"
    assert page.errors == []


def test_timestamps_and_wrap_toggles(open_as, alice, project):
    deploy = deploy_with_steps(project, [StepState.SUCCEEDED], [["x" * 400, "short"]])
    page = ready(open_as(alice, deploy.get_absolute_url()))
    assert not page.is_visible("#L1 .ts")
    page.click("#log-times")
    assert page.is_visible("#L1 .ts")
    assert page.get_attribute("#log-times", "aria-pressed") == "true"
    one_line = page.eval_on_selector("#L1", "el => el.offsetHeight")
    page.click("#log-wrap")
    assert page.eval_on_selector("#L1", "el => el.offsetHeight") > 2 * one_line
    page.reload()
    ready(page)
    assert page.get_attribute("#log-wrap", "aria-pressed") == "true"  # remembered


# Permalinks, search, folding ---------------------------------------------------------------


def test_a_line_permalink_scrolls_to_and_highlights_the_line_after_reload(open_as, alice, project):
    deploy = deploy_with_steps(
        project, [StepState.SUCCEEDED], [[f"line {n}" for n in range(1, 901)]]
    )
    page = ready(open_as(alice, deploy.get_absolute_url() + "#L640"))
    page.wait_for_selector("#L640.hl")
    assert page.locator("#L640").is_visible()
    assert in_log_view(page, 640)
    page.reload()
    ready(page)
    page.wait_for_selector("#L640.hl")
    assert in_log_view(page, 640)
    page.click("#L642 a.ln")
    assert page.evaluate("location.hash") == "#L642"
    page.wait_for_selector("#L642.hl")
    assert page.locator(".log-line.hl").count() == 1


def in_log_view(page, n):
    return page.evaluate(
        """n => { const r = document.getElementById('L' + n).getBoundingClientRect();
                  const v = document.getElementById('log').getBoundingClientRect();
                  return r.top >= v.top - 1 && r.bottom <= v.bottom + 1; }""",
        n,
    )


def test_search_counts_matches_and_moves_between_them(open_as, alice, project):
    texts = [f"line {n}" + (" needle" if n in (20, 400, 850) else "") for n in range(1, 901)]
    deploy = deploy_with_steps(project, [StepState.SUCCEEDED], [texts])
    page = ready(open_as(alice, deploy.get_absolute_url()))
    page.fill("#log-search-input", "NEEDLE")
    expect(page.locator("#log-search-count")).to_have_text("1 of 3")
    page.wait_for_selector("#L20.current-match")
    page.click("#log-next")
    page.wait_for_selector("#L400.current-match")
    assert page.inner_text("#log-search-count") == "2 of 3"
    assert in_log_view(page, 400)
    page.click("#log-prev")
    page.click("#log-prev")
    page.wait_for_selector("#L850.current-match")
    assert page.inner_text("#log-search-count") == "3 of 3"
    page.fill("#log-search-input", "no such text")
    expect(page.locator("#log-search-count")).to_have_text("No match")


def test_finished_steps_are_folded_and_unfold_on_click(open_as, alice, project):
    deploy = deploy_with_steps(
        project,
        [StepState.SUCCEEDED, StepState.SUCCEEDED],
        [["checkout a", "checkout b"], ["push a", "push b", "push c"]],
    )
    page = ready(open_as(alice, deploy.get_absolute_url()))
    heads = page.locator(".log-step-head")
    assert heads.count() == 2
    assert log_lines_in_dom(page) == 0
    assert heads.nth(1).get_attribute("aria-expanded") == "false"
    heads.nth(1).click()
    page.wait_for_selector("#L5")
    assert page.inner_text("#L3 .tx") == "push a"
    assert log_lines_in_dom(page) == 3
    heads.nth(1).click()
    expect(page.locator("#L5")).to_be_hidden()
    expect(heads.nth(1)).to_have_attribute("aria-expanded", "false")


def test_a_failed_step_is_open_and_its_last_lines_are_pinned_on_top(open_as, alice, project, shoot):
    migrate = [f"migrating {n}" for n in range(1, 31)] + [
        "\x1b[31mdjango.db.OperationalError\x1b[0m"
    ]
    deploy = deploy_with_steps(
        project,
        [StepState.SUCCEEDED, StepState.FAILED, StepState.SKIPPED],
        [["pushed"], migrate, []],
        state=State.FAILED,
    )
    page = ready(open_as(alice, deploy.get_absolute_url()))
    pinned = page.locator("#log-pinned")
    pinned.wait_for()
    assert "failed. Its last lines" in pinned.inner_text()
    assert "django.db.OperationalError" in pinned.inner_text()
    assert pinned.locator(".log-line").count() == 10
    heads = page.locator(".log-step-head")
    assert heads.nth(0).get_attribute("aria-expanded") == "false"
    assert heads.nth(1).get_attribute("aria-expanded") == "true"
    assert heads.nth(2).is_disabled()  # skipped: no line to show
    pinned_text = ["failed. Its last lines", "django.db.OperationalError"]
    shoot(
        page, "deploy-failed", text=pinned_text, boxes=[*DEPLOY_PAGE, "#log-pinned"], widths=[1280]
    )
    narrow = ready(open_as(alice, deploy.get_absolute_url(), width=390))
    narrow.locator("#log-pinned").wait_for()
    shoot(
        narrow, "deploy-failed", text=pinned_text, boxes=[*DEPLOY_PAGE, "#log-pinned"], widths=[390]
    )


# Follow and download ---------------------------------------------------------------------


def test_follow_turns_off_when_the_user_scrolls_up(open_as, alice, project):
    deploy = make_deploy(project, state=State.RUNNING, finished_at=None)
    make_steps(deploy, [StepState.RUNNING], first_lines={1: 1})
    append_lines(deploy, [f"line {n}" for n in range(1, 301)])
    page = ready(open_as(alice, deploy.get_absolute_url()))
    page.wait_for_selector("#L300")
    assert page.get_attribute("#log-follow", "aria-pressed") == "true"
    page.hover("#log")
    page.mouse.wheel(0, -600)
    expect(page.locator("#log-follow")).to_have_attribute("aria-pressed", "false")
    top = page.eval_on_selector("#log", "el => el.scrollTop")
    append_lines(deploy, ["after scrolling up"])
    page.wait_for_selector("#L301", state="attached")
    assert page.eval_on_selector("#log", "el => el.scrollTop") == top
    page.click("#log-follow")
    append_lines(deploy, ["following again"])
    page.wait_for_selector("#L302")
    assert in_log_view(page, 302)


def test_download_raw_log_gives_the_plain_text(open_as, alice, project):
    deploy = deploy_with_steps(project, [StepState.SUCCEEDED], [["first", "<second>", "third"]])
    page = ready(open_as(alice, deploy.get_absolute_url()))
    with page.expect_download() as info:
        page.click("text=Download raw log")
    download = info.value
    assert download.suggested_filename == "foo-bar-deploy-1.log"
    assert Path(download.path()).read_text() == "first\n<second>\nthird\n"


# Large logs ------------------------------------------------------------------------------


def huge_deploy(project, lines=200_000, per_chunk=1000):
    deploy = make_deploy(project)
    make_steps(deploy, [StepState.SUCCEEDED], first_lines={1: 1})
    now = 1_700_000_000_000
    LogChunk.objects.bulk_create(
        LogChunk(
            deploy=deploy,
            first_line=start,
            line_count=per_chunk,
            content="\n".join(
                logformat.encode(1, "o", now, f"building module {n} \x1b[32mok\x1b[0m")
                for n in range(start, start + per_chunk)
            ),
        )
        for start in range(1, lines + 1, per_chunk)
    )
    Deploy.objects.filter(pk=deploy.pk).update(line_count=lines)  # as the log writer keeps it
    deploy.line_count = lines
    return deploy


def test_a_200000_line_log_opens_with_a_bounded_dom(open_as, alice, project):
    # Time to interactive is measured by `make bench` (large_log_open_s), not asserted here.
    deploy = huge_deploy(project)
    page = open_as(alice, deploy.get_absolute_url())
    page.wait_for_selector("#L1")
    assert log_lines_in_dom(page) <= 1000
    assert page.evaluate("document.getElementsByTagName('*').length") < 10_000
    page.eval_on_selector("#log", "el => { el.scrollTop = el.scrollHeight; }")
    page.wait_for_selector("#L200000")
    assert in_log_view(page, 200_000)
    assert log_lines_in_dom(page) <= 1000
    page.evaluate("location.hash = '#L123456'")
    page.wait_for_selector("#L123456.hl")
    assert log_lines_in_dom(page) <= 1000
    assert page.errors == []


# Screenshots of the other pages ------------------------------------------------------------


@pytest.mark.parametrize("width", [1280, 390])
def test_history_project_and_home_pages_look_right(open_as, alice, project, width, shoot):
    from datetime import timedelta

    staging = make_environment(project, "staging", app_name="foo-bar-staging")
    production = make_environment(project, "production", app_name="foo-bar-production")
    for n in range(24):
        env = production if n % 3 == 0 else staging
        state = State.FAILED if n % 7 == 3 else State.CANCELED if n == 10 else State.SUCCEEDED
        make_deploy(
            project,
            env,
            state=state,
            seconds=40 + (n * 37) % 200,
            branch="main" if n % 4 else "feature/login",
            triggered_by=alice,
        )
    make_deploy(project, staging, state=State.RUNNING, finished_at=None, triggered_by=alice)
    Deploy.objects.filter(number__lt=5).update(created_at=project.created_at - timedelta(days=2))
    give_key(project)
    for minutes in (50, 30, 5):
        ledger("foo-bar-staging", minutes_ago=minutes)
    failed = deploy_with_steps(
        project,
        [StepState.SUCCEEDED, StepState.FAILED, StepState.SKIPPED],
        [
            [f"checking out {n}" for n in range(30)],
            ["\x1b[31mremote: error: rejected\x1b[0m"] * 5,
            [],
        ],
        state=State.FAILED,
    )
    Deploy.objects.filter(pk=failed.pk).update(reason="Heroku rejected the push: see step 2.")
    pages = {
        failed.get_absolute_url(): (
            "deploy",
            ["Heroku rejected the push: see step 2.", "remote: error: rejected"],
            [*DEPLOY_PAGE, "#deploy-reason", "#log-pinned"],
        ),
        f"/projects/{project.slug}/deploys/": (
            "history",
            ["Deploy history", "#26", "Filter deploys"],
            ["h1", ".filters", ".chart", "table", ".pagination"],
        ),
        project.get_absolute_url(): (
            "project",
            ["foo-bar-staging", "foo-bar-production"],
            ["h1", ".env-card .env-head", ".env-card .badge", ".recent"],
        ),
        "/": ("home", ["Foo Bar", "staging"], ["h1", ".project-card", ".env-list .badge"]),
    }
    for path, (name, text, boxes) in pages.items():
        page = open_as(alice, path, width=width)
        assert page.errors == []
        shoot(page, name, text=text, boxes=boxes, widths=[width])
