"""The one bytes-to-lines decoder: commands' output (deploys/runners.py) and a one-off dyno's
(herokucd/heroku.py) both read through it."""

from herokucd.lines import LineDecoder


def read(*chunks):
    decoder = LineDecoder()
    lines = [line for chunk in chunks for line in decoder.feed(chunk)]
    return lines + decoder.close()


def test_a_crlf_split_between_reads_ends_one_line():
    assert read(b"one\r", b"\ntwo\r\n") == ["one", "two"]


def test_a_character_split_between_reads_stays_whole_and_bad_bytes_read_as_replacement():
    encoded = "café\n".encode()
    assert read(encoded[:4], encoded[4:], b"\xff\n") == ["café", "\ufffd"]


def test_a_last_line_without_newline_comes_with_close():
    assert read(b"a\nb") == ["a", "b"]
    assert read(b"a\n") == ["a"]
