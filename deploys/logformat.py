"""How log lines are packed into `LogChunk.content`, and read back.

A line is `<step position>\\t<stream>\\t<milliseconds since the epoch>\\t<text>`, lines joined by
"\\n". Text never holds "\\n" (output is split on it) and was redacted before it got here; it may
hold "\\r" (progress bars) and ANSI escapes, which the viewer renders.
"""

from dataclasses import dataclass

from django.db.models import F

STDOUT, STDERR, SYSTEM = "o", "e", "s"  # SYSTEM: lines herokucd itself writes


@dataclass(frozen=True, slots=True)
class Line:
    number: int
    step: int
    stream: str
    time_ms: int
    text: str


def encode(step: int, stream: str, time_ms: int, text: str) -> str:
    return f"{step}\t{stream}\t{time_ms}\t{text}"


def decode_chunk(first_line: int, content: str):
    for offset, raw in enumerate(content.split("\n")):
        step, stream, time_ms, text = raw.split("\t", 3)
        yield Line(first_line + offset, int(step), stream, int(time_ms), text)


def read_lines(deploy, after: int = 0, limit: int = 1000):
    """Lines numbered after `after`, at most `limit`, reading only the chunks that hold them."""
    chunks = (
        deploy.log_chunks.annotate(end=F("first_line") + F("line_count"))
        .filter(end__gt=after + 1)
        .order_by("first_line")
        .values_list("first_line", "content")
    )
    lines = []
    for first_line, content in chunks.iterator(chunk_size=8):
        for line in decode_chunk(first_line, content):
            if line.number > after:
                lines.append(line)
                if len(lines) >= limit:
                    return lines
    return lines
