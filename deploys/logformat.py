"""How log lines are packed into `LogChunk.content`, and read back.

A line is `<step position>\\t<stream>\\t<milliseconds since the epoch>\\t<text>`, lines joined by
"\\n". Text never holds "\\n" (output is split on it) and was redacted before it got here; it may
hold "\\r" (progress bars) and ANSI escapes, which the viewer renders.
"""

from dataclasses import dataclass

from django.db import connection

from deploys.models import LogChunk

STDOUT, STDERR, SYSTEM = "o", "e", "s"  # SYSTEM: lines herokucd itself writes
MAX_LINE_NUMBER = 2**31 - 1  # what the line columns hold; a cursor past it is clamped to it


@dataclass(frozen=True, slots=True)
class Line:
    number: int
    step: int
    stream: str
    time_ms: int
    text: str


def encode(step: int, stream: str, time_ms: int, text: str) -> str:
    return f"{step}\t{stream}\t{time_ms}\t{text}"


def decode_chunk(first_line: int, content: str, after: int = 0):
    """The chunk's lines numbered after `after` (those before are not decoded)."""
    raws = content.split("\n")
    for offset in range(max(after + 1 - first_line, 0), len(raws)):
        step, stream, time_ms, text = raws[offset].split("\t", 3)
        yield Line(first_line + offset, int(step), stream, int(time_ms), text)


def read_lines(deploy, after: int = 0, limit: int = 1000):
    """Lines numbered after `after`, at most `limit`, reading only the chunks that hold them.

    Plain SQL: every live viewer calls this after every new line, and building the ORM query
    took longer than running it."""
    sql = (
        f"SELECT first_line, content FROM {LogChunk._meta.db_table} "  # noqa: S608 - our table
        "WHERE deploy_id = %s AND first_line + line_count > %s ORDER BY first_line"
    )
    lines = []
    with connection.cursor() as cursor:
        cursor.execute(sql, [deploy.pk, after + 1])
        while rows := cursor.fetchmany(8):
            for first_line, content in rows:
                for line in decode_chunk(first_line, content, after):
                    lines.append(line)
                    if len(lines) >= limit:
                        return lines
    return lines
