"""Durations read the same whether the server wrote them or the log viewer's clock ticks them:
log.js's formatDuration, run in Chromium, against the `duration` filter on the same values."""

import re
from pathlib import Path

import pytest

from deploys.templatetags.deploy_tags import duration

pytestmark = pytest.mark.browser

LOG_JS = Path(__file__).resolve().parents[2] / "static" / "js" / "log.js"
SECONDS = [0, 0.4, 8, 59, 59.9, 60, 72, 72.9, 3599, 3600, 3661, 7500, 86399, 90061, -3]


def format_duration_source() -> str:
    found = re.search(r"^( *)function formatDuration\(.*?^\1\}$", LOG_JS.read_text(), re.S | re.M)
    assert found, "log.js has no formatDuration function"
    return found.group(0)


def test_log_js_formats_durations_exactly_as_the_server(chromium):
    page = chromium.new_page()
    try:
        script = f"(values) => {{ {format_duration_source()}; return values.map(formatDuration); }}"
        in_browser = page.evaluate(script, SECONDS)
    finally:
        page.close()
    assert in_browser == [duration(value) for value in SECONDS]
    assert in_browser[6] == "1m 12s" and in_browser[11] == "2h 5m"
