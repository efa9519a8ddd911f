"""Browser fixtures: Debian's Chromium driven by Playwright against pytest-django's live_server.

`browser_page` is a Playwright page at 1280 px; a failing test leaves a screenshot of the page
in test-artifacts/. `shoot(page, name, text=[...], boxes=[...])` saves the page at 1280 and at
390 px wide for the eye, and asserts at both widths what the screenshot shows: the words a person
reads, the key elements laid out inside the viewport without overlapping, no sideways scroll, a
visible focus ring. It refuses to take a screenshot with nothing to check.
"""

import functools
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
# What a deploy page lays out at every width: the title with the state badge, the facts, the
# log's toolbar and the log.
DEPLOY_PAGE = ["h1", "#deploy-state", ".facts", "#log-search", "#log"]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


# Package scope: Playwright's sync API keeps an event loop running in the main thread while it
# is open, and Django's test client cannot call an async view (the live log stream) in a thread
# with a running loop. The browser closes when the browser tests are done.
@pytest.fixture(scope="package")
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
    """shoot(page, name, text=[...], boxes=[...]): see `look_at`; files named after the test."""
    return functools.partial(look_at, prefix=request.node.name)


def look_at(page, name, *, text, boxes, widths=(WIDE, NARROW), prefix=""):
    """Save the page at each width in test-artifacts/ and check there what a person sees.

    At each width: every string of `text` is visible; every selector of `boxes` matches a
    visible element lying inside the viewport's width; those elements, and the items of the top
    bar, do not overlap one another (an element may sit inside another); the page does not
    scroll sideways. Then one Tab (or Shift+Tab) must show a focus ring. A screenshot nobody checks
    catches nothing, so both lists are required.
    """
    if not text or not boxes:
        raise TypeError(f"{name}: say what the page shows, text=[...] and boxes=[...]")
    ARTIFACTS.mkdir(exist_ok=True)
    base, viewport = _safe(f"{prefix}-{name}" if prefix else name), page.viewport_size
    try:
        for width in widths:
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=ARTIFACTS / f"{base}-{width}.png", full_page=True)
            _check_layout(page, f"{name} at {width} px", text, boxes)
        _check_focus_ring(page, name)
    finally:
        page.set_viewport_size(viewport)


def _check_layout(page, where, text, boxes):
    for words in text:
        shown = page.get_by_text(words).filter(visible=True)
        assert shown.count(), f"{where}: {words!r} is not visible"
    found = page.evaluate(LAYOUT, list(boxes))
    assert not found["missing"], f"{where}: not visible: {found['missing']}"
    assert not found["outside"], f"{where}: outside the viewport's width: {found['outside']}"
    assert not found["overlaps"], f"{where}: overlapping: {found['overlaps']}"
    assert not found["wider"], f"{where}: scrolls sideways, these stick out: {found['wider']}"


def _check_focus_ring(page, name):
    for key in ("Tab", "Shift+Tab"):  # the last element of a modal dialog tabs out of the page
        before = page.evaluate_handle(BEFORE_TAB)
        page.keyboard.press(key)
        focused = page.evaluate(FOCUS_RING, before)
        if focused["element"] != "body":
            break
    assert focused["ring"], f"{name}: Tab focuses {focused['element']}, which shows no focus ring"


# The on-screen boxes of the named elements and of the top bar's items, what lies outside the
# viewport's width or overlaps (nested elements aside), and the innermost elements sticking out
# of the viewport if the page scrolls sideways.
LAYOUT = """selectors => {
  const label = e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
    + (typeof e.className === "string" && e.className.trim() ? "." + e.className.trim() : "")
    + " " + JSON.stringify((e.innerText || e.textContent || "").trim().slice(0, 30));
  const shown = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0
    && getComputedStyle(e).visibility !== "hidden"; };
  // The part of an element on screen: a wide table scrolls inside its box, not the page.
  const seen = e => {
    const {left, right, top, bottom} = e.getBoundingClientRect(), box = {left, right, top, bottom};
    for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX === "visible") continue;
      const clip = a.getBoundingClientRect();
      [box.left, box.right] = [Math.max(box.left, clip.left), Math.min(box.right, clip.right)];
    }
    return box;
  };
  const missing = [], outside = [], overlaps = [], placed = [];
  for (const selector of selectors) {
    const element = [...document.querySelectorAll(selector)].find(shown);
    if (!element) { missing.push(selector); continue; }
    const r = seen(element);
    const span = `${Math.round(r.left)}..${Math.round(r.right)} px`;
    if (r.left < -1 || r.right > innerWidth + 1) outside.push(`${label(element)} at ${span}`);
    placed.push([selector, element]);
  }
  const bar = document.querySelector(".topbar-inner");
  if (bar) [...bar.children].filter(shown).forEach(e => placed.push(["top bar " + label(e), e]));
  for (let i = 0; i < placed.length; i++) for (let j = i + 1; j < placed.length; j++) {
    const [[na, a], [nb, b]] = [placed[i], placed[j]];
    if (a === b || a.contains(b) || b.contains(a)) continue;
    const [p, q] = [seen(a), seen(b)];
    const x = Math.min(p.right, q.right) - Math.max(p.left, q.left);
    const y = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
    if (x > 1 && y > 1) overlaps.push(`${na} and ${nb}`);
  }
  const sticksOut = e => e.getBoundingClientRect().right > innerWidth + 1;
  const wider = document.scrollingElement.scrollWidth <= innerWidth ? [] :
    [...document.querySelectorAll("body *")].filter(sticksOut)
      .filter(e => ![...e.children].some(sticksOut)).slice(0, 5).map(label)
      .concat([`page ${document.scrollingElement.scrollWidth} px wide`]);
  return {missing, outside, overlaps, wider};
}"""

BEFORE_TAB = "() => ({element: document.activeElement, x: scrollX, y: scrollY})"
# Where the focus lands after one Tab, whether it draws a ring, and the focus and scroll put back
# as they were, so the test carries on from the same state.
FOCUS_RING = """before => {
  const e = document.activeElement, style = getComputedStyle(e);
  const ring = e !== document.body && e.matches(":focus-visible") && (style.boxShadow !== "none"
    || (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0));
  const words = JSON.stringify((e.innerText || e.textContent || "").trim().slice(0, 30));
  const element = e === document.body ? "body" : `${e.tagName.toLowerCase()} ${words}`;
  const back = before.element !== document.body ? before.element : null;
  back ? back.focus({preventScroll: true}) : e.blur();
  scrollTo(before.x, before.y);
  return {ring, element};
}"""


def _safe(name):
    return re.sub(r"[^\w.-]+", "_", name)[:120]
