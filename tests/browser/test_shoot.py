"""`shoot` fails where a person would see something wrong, and refuses to check nothing."""

import pytest

from tests.browser.conftest import WIDE, look_at

pytestmark = [pytest.mark.browser]

STYLE = """<style>
  body { margin: 0; font: 16px sans-serif; } :focus-visible { outline: 3px solid blue; }
  .topbar-inner { display: flex; gap: 1rem; } main { padding: 1rem; }
</style>"""
GOOD = """<header class="topbar"><div class="topbar-inner"><a href="/">herokucd</a>
  <a href="/me">alice</a></div></header>
  <main><h1>Deploy #1</h1><button class="primary">Retry deploy</button></main>"""


@pytest.fixture
def blank(chromium):
    context = chromium.new_context(viewport={"width": WIDE, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def look(page, html, **what):
    page.set_content(STYLE + html)
    look_at(page, "shoot-self-check", **{"text": ["Deploy #1"], "boxes": ["h1"], **what})


def test_a_page_that_reads_and_lays_out_well_passes(blank):
    look(blank, GOOD, boxes=["h1", ".primary"])


@pytest.mark.parametrize("missing", [{"text": []}, {"boxes": []}])
def test_it_refuses_a_screenshot_with_nothing_to_check(blank, missing):
    with pytest.raises(TypeError, match="say what the page shows"):
        look(blank, GOOD, **missing)


@pytest.mark.parametrize(
    ("html", "what", "complaint"),
    [
        (GOOD, {"text": ["Cancel deploy"]}, "'Cancel deploy' is not visible"),
        (GOOD.replace("<h1>", "<h1 hidden>"), {"text": ["Retry"]}, "not visible: ['h1']"),
        (GOOD + '<pre style="width: 600px">a long line</pre>', {}, "at 390 px: scrolls sideways"),
        (
            GOOD.replace(
                'class="primary"', 'class="primary" style="position: relative; top: -30px"'
            ),
            {"boxes": ["h1", ".primary"]},
            "overlapping: ['h1 and .primary']",
        ),
        (
            GOOD.replace('<a href="/me">', '<a href="/me" style="margin-left: -6em">'),
            {},
            "overlapping: ['top bar a",
        ),
        (GOOD + "<style>:focus-visible { outline: none; }</style>", {}, "shows no focus ring"),
    ],
    ids=["text", "box", "sideways", "overlap", "top-bar", "focus"],
)
def test_it_fails_on_what_a_person_would_see_wrong(blank, html, what, complaint):
    with pytest.raises(AssertionError) as failure:
        look(blank, html, **what)
    assert complaint in str(failure.value)
