"""How rendezvous bytes become lines, whatever the chunking the network happens to use."""

from herokucd.heroku import EXIT_MARKER, _OutputLines


def feed(*chunks):
    lines = []
    output = _OutputLines(lines.append)
    for chunk in chunks:
        output.feed(chunk)
    output.close()
    return lines, output.exit_status


def test_lines_split_across_chunks_are_joined():
    assert feed(b"hel", b"lo\nwor", b"ld\n") == (["hello", "world"], None)


def test_a_character_split_across_chunks_is_decoded_whole():
    encoded = "café\n".encode()
    assert feed(encoded[:4], encoded[4:]) == (["café"], None)


def test_carriage_returns_are_dropped_from_line_ends():
    assert feed(b"one\r\ntwo\r\n") == (["one", "two"], None)


def test_a_last_line_without_newline_is_still_passed_on():
    assert feed(b"partial") == (["partial"], None)


def test_the_marker_gives_the_exit_status_and_is_not_output():
    marker = f"{EXIT_MARKER} 42\n".encode()
    assert feed(b"out\n", marker[:3], marker[3:]) == (["out"], 42)


def test_output_sharing_the_markers_line_is_kept():
    assert feed(f"no newline{EXIT_MARKER} 0\r\n".encode()) == (["no newline"], 0)


def test_a_marker_without_a_number_is_just_output():
    text = f"{EXIT_MARKER} oops"
    assert feed(text.encode()) == ([text], None)
