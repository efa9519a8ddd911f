"""Browser fixtures: Debian's Chromium driven by Playwright against pytest-django's live_server.

`browser_page` is a Playwright page at 1280 px; a failing test leaves a screenshot of the page
in test-artifacts/. `shoot(page, name)` saves the page at 1280 and at 390 px wide so the look of
every page can be checked by eye and compared between runs.
"""

import os
import re
from pathlib import Path

import pytest

# Playwright's sync API keeps an asyncio loop on the main thread, so Django takes test code
# that touches the database for async code. It is not: the loop only drives the browser.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDE, NARROW = 1280, 390


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium, live_server, request):
    """A fresh browser context (no cookies) on the live server; console errors fail the test."""
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": WIDE, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    page.console_errors = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"FAILED-{_safe(request.node.name)}.png", full_page=True)
    context.close()


@pytest.fixture
def shoot(request):
    def screenshot(page, name):
        ARTIFACTS.mkdir(exist_ok=True)
        base = _safe(f"{request.node.name}-{name}")
        for width in (WIDE, NARROW):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=ARTIFACTS / f"{base}-{width}.png", full_page=True)
        page.set_viewport_size({"width": WIDE, "height": 900})

    return screenshot


def _safe(name):
    return re.sub(r"[^\w.-]+", "_", name)[:120]
