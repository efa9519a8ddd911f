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


def test_an_endless_line_is_held_only_up_to_a_bound_and_output_goes_on_after_it():
    """Output with no newline (a release command printing `yes | tr -d '\\n'`, a dyno's
    progress bar left running) must not grow the worker's memory, nor its work per read,
    without end: the line is kept up to MAX_LINE_CHARS (the log shows at most 10,000 characters
    of a line anyway) and the lines after it are read as usual."""
    import tracemalloc

    from herokucd.lines import MAX_LINE_CHARS

    decoder, chunk, lines = LineDecoder(), b"a" * 65536, []
    tracemalloc.start()
    try:
        for _ in range(512):  # 32 MB without a newline
            lines += decoder.feed(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert lines == []
    assert peak < 8_000_000
    lines += decoder.feed(b"aaa\r\nnext line\nlast")
    assert lines == ["a" * MAX_LINE_CHARS, "next line"]
    assert decoder.close() == ["last"]
