"""Jobs that tests enqueue for a real rqworker subprocess."""

from pathlib import Path


def write_marker(path, text):
    Path(path).write_text(text)
