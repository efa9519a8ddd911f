"""A secret is redacted as the log viewer would show it: through ANSI/control sequences put
inside it, and split over consecutive lines of a step, from either stream, across flushes."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploys.logformat import STDERR, STDOUT, read_lines
from deploys.logwriter import REDACTED, LogWriter
from tests.deploys.factories import make_deploy

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "HRKU-AAbbCCddEEff0011-2233-4455-66778899aabb"
PIECES = {KEY[i : i + 16] for i in range(len(KEY) - 15)}
# What the viewer hides (static/js: its OTHER_ESCAPES) and control characters.
HIDDEN = ["\x1b[31m", "\x1b[0m", "\x1b[1;32m", "\x1b[2K", "\x1b]0;title\x07", "\x1bM", "\x07", "\r"]


def stored(deploy) -> list[str]:
    return [line.text for line in read_lines(deploy, limit=100_000)]


def assert_no_piece(texts):
    everything = "".join(texts)
    # As the viewer shows it: the lines end to end, the hidden sequences gone.
    for hidden in HIDDEN:
        everything = everything.replace(hidden, "")
    assert KEY not in everything
    for text in texts:
        assert not any(piece in text for piece in PIECES), text


def write_all(deploy, lines, flush_every=None):
    writer = LogWriter(deploy, [KEY])
    writer.step = 1
    for index, (stream, text) in enumerate(lines):
        writer.lines([text], stream)
        if flush_every and index % flush_every == flush_every - 1:
            writer.flush()
    writer.close()
    return stored(deploy)


def test_a_key_with_colour_codes_inside_is_redacted(project):
    deploy = make_deploy(project)
    shown = KEY[:10] + "\x1b[31m" + KEY[10:30] + "\x1b[0m" + KEY[30:]
    texts = write_all(deploy, [(STDOUT, f"token={shown} done")])
    assert texts == [f"token={REDACTED} done"]


def test_a_key_split_over_stdout_and_stderr_is_cut_out_of_both_lines(project):
    deploy = make_deploy(project)
    texts = write_all(deploy, [(STDOUT, "the key is " + KEY[:20]), (STDERR, KEY[20:] + " (ok)")])
    assert texts == [f"the key is {REDACTED}", f"{REDACTED} (ok)"]


def test_a_key_split_over_two_flushes_is_cut_out_of_the_stored_line_too(project):
    deploy = make_deploy(project)
    texts = write_all(deploy, [(STDOUT, "a " + KEY[:25]), (STDOUT, KEY[25:] + " b")], 1)
    assert texts == [f"a {REDACTED}", f"{REDACTED} b"]


def test_lines_of_another_step_are_not_joined_to_this_one(project):
    deploy = make_deploy(project)
    writer = LogWriter(deploy, [KEY])
    writer.step = 1
    writer.write(KEY[:20])
    writer.step = 2
    writer.write(KEY[20:])
    writer.close()
    assert stored(deploy) == [KEY[:20], KEY[20:]]  # neither half is the key, nor shown with it


@st.composite
def split_key(draw):
    """The key cut into 1-6 pieces, hidden sequences put in, each piece a line of a stream, with
    other text before the first and after the last."""
    cuts = sorted(draw(st.sets(st.integers(1, len(KEY) - 1), max_size=5)))
    pieces = [KEY[a:b] for a, b in zip([0, *cuts], [*cuts, len(KEY)], strict=True)]
    lines = []
    for piece in pieces:
        at = sorted(draw(st.lists(st.integers(0, len(piece)), max_size=3)))
        text, last = "", 0
        for position in at:
            text += piece[last:position] + draw(st.sampled_from(HIDDEN))
            last = position
        lines.append([draw(st.sampled_from([STDOUT, STDERR])), text + piece[last:]])
    lines[0][1] = draw(st.text("xyz: =", max_size=5)) + lines[0][1]
    lines[-1][1] += draw(st.text(" .,;)", max_size=5))
    return [tuple(line) for line in lines], draw(st.sampled_from([None, 1, 2]))


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=split_key())
def test_no_split_or_interleaving_stores_the_key_or_a_16_character_piece(project, case):
    lines, flush_every = case
    deploy = make_deploy(project)
    texts = write_all(deploy, [(STDOUT, "before"), *lines, (STDOUT, "after")], flush_every)
    assert_no_piece(texts)
    assert texts[0] == "before" and texts[-1] == "after"
    assert len(texts) == len(lines) + 2  # lines are redacted, never merged or lost
