"""The one writer of a deploy's log: redacts, packs lines into LogChunk rows, flushes them.

Lines are numbered when written, kept in memory, and stored as one LogChunk per `CHUNK_LINES`
lines, by a background thread: as soon as a chunk is full, or `FLUSH_DELAY` seconds after the
first unflushed line. A live viewer sees a line within a fraction of a second, a burst of output
costs one INSERT per chunk, not one per line, and the command's output is read on while the
database stores the last chunks. Only when `MAX_PENDING` lines wait does the writing thread
store them itself, which holds back a command that prints faster than the database stores.

Lines are kept as runs: the lines one read of a command's output gave, which share their step,
stream and time. A run is cleaned and encoded whole, with string joins and replaces rather than
Python code per line, which is what lets a burst be stored at the speed the command prints it.

Redaction happens at flush time, on a run's texts joined, before anything is stored: one regex
pass over many lines is much faster than one per line. No pattern contains a newline (a private
key is redacted line by line), so the joined text splits back into the same lines.
"""

import base64
import json
import logging
import re
import threading
import time
from urllib.parse import quote, quote_plus

from django.db import connection, transaction

from deploys import logformat
from deploys.models import Deploy, LogChunk

log = logging.getLogger(__name__)
CHUNK_LINES = 2000
FLUSH_DELAY = 0.1
MAX_PENDING = 4 * CHUNK_LINES
MAX_LINE = 10_000
MIN_SECRET = 8
REDACTED = "[redacted]"


def secret_forms(secret: str) -> set[str]:
    """The ways a secret shows up in output: raw, base64, url-encoded and JSON-escaped."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    forms |= _base64_forms(secret.encode())
    # Output is split into lines before it is redacted: a form spanning lines can never match a
    # line, and matching it across joined lines would merge them (its lines are secrets too).
    return {form for form in forms if len(form) >= MIN_SECRET and "\n" not in form}


def _base64_forms(raw: bytes) -> set[str]:
    """Base64 of the secret alone, and the part that is the same wherever it sits in a longer
    encoded text (e.g. `user:key` in a Basic auth header), for each of the 3 alignments."""
    forms = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw).decode()
        start, end = -(-pad * 4 // 3), (pad + len(raw)) // 3 * 4
        forms.add(encoded[start:end])
    return forms


def secrets_pattern(secrets) -> re.Pattern | None:
    forms = set()
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET:
            forms |= secret_forms(secret)
    if not forms:
        return None
    # Longest first, so a form that contains another is replaced whole.
    alternatives = sorted(forms, key=len, reverse=True)
    return re.compile("|".join(re.escape(form) for form in alternatives))


def private_key_secrets(private_key: str) -> list[str]:
    """The whole key and each line of it, so a key printed line by line is caught too."""
    if not private_key:
        return []
    lines = [line.strip() for line in private_key.splitlines()]
    return [private_key.strip(), *(line for line in lines if len(line) >= MIN_SECRET)]


class LogWriter:
    """Writes one deploy's log lines. Thread-safe; `close()` stores whatever is left."""

    def __init__(self, deploy: Deploy, secrets=(), start_line: int | None = None):
        self.deploy_id = deploy.pk
        self.step = 0
        self._secrets = list(secrets)
        self._pattern = secrets_pattern(self._secrets)
        self._next = (deploy.line_count if start_line is None else start_line) + 1
        self._runs: list[tuple[int, str, int, list[str]]] = []  # (step, stream, ms, texts)
        self._count = 0  # lines in _runs
        self._lock = threading.Lock()  # guards _runs, _count and _next
        self._flush_lock = threading.Lock()  # chunks are stored in line order
        self._wake = threading.Event()  # lines are pending
        self._now = threading.Event()  # store them without waiting out FLUSH_DELAY
        self._closing = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, daemon=True, name="log-flush")
        self._flusher.start()

    def add_secrets(self, secrets) -> None:
        """Redact these too, from now on (e.g. config var values fetched during the deploy)."""
        with self._flush_lock:
            self._secrets.extend(secrets)
            self._pattern = secrets_pattern(self._secrets)

    def redact(self, text: str) -> str:
        """`text` without the secrets this writer knows (for reasons stored outside the log)."""
        pattern = self._pattern
        return pattern.sub(REDACTED, text) if pattern is not None else text

    def write(self, text: str, stream: str = logformat.STDOUT) -> None:
        """Store `text`, one line per "\\n" in it."""
        self.lines(text.split("\n"), stream)

    def system(self, text: str) -> None:
        """A line herokucd itself writes (what it does and why)."""
        self.write(text, logformat.SYSTEM)

    def lines(self, lines, stream: str = logformat.STDOUT) -> None:
        """Many lines at once, each without its line ending."""
        texts = list(lines)
        if not texts:
            return
        now = int(time.time() * 1000)
        step = self.step
        with self._lock:
            last = self._runs[-1] if self._runs else None
            if last is not None and last[:3] == (step, stream, now):
                last[3].extend(texts)
            else:
                self._runs.append((step, stream, now, texts))
            first = self._count == 0
            self._count += len(texts)
            count = self._count
        if count >= MAX_PENDING:
            self.flush(whole_chunks=True)
            return
        if count >= CHUNK_LINES:
            self._now.set()
        if first or count >= CHUNK_LINES:
            self._wake.set()

    def flush(self, whole_chunks=False) -> None:
        """Store the pending lines; with `whole_chunks`, only as many as fill whole chunks (a
        burst is stored in full chunks, the rest waits for more lines or FLUSH_DELAY)."""
        with self._flush_lock:
            with self._lock:
                count = self._count
                if whole_chunks:
                    count -= count % CHUNK_LINES
                runs = self._take(count)
                first = self._next
                self._next += count
                if self._count:
                    self._wake.set()  # the rest is stored within FLUSH_DELAY
            if not count:
                return
            try:
                self._store(first, runs)
            except BaseException:
                # Put the lines back, numbered as before, so a later flush stores them.
                with self._lock:
                    self._runs[:0] = runs
                    self._count += count
                    self._next = first
                raise

    def _take(self, count: int) -> list:
        """The first `count` pending lines, as runs (caller holds `_lock`)."""
        if count == self._count:
            runs, self._runs, self._count = self._runs, [], 0
            return runs
        runs, left = [], count
        while left:
            step, stream, ms, texts = self._runs[0]
            if len(texts) > left:
                runs.append((step, stream, ms, texts[:left]))
                self._runs[0] = (step, stream, ms, texts[left:])
                break
            runs.append(self._runs.pop(0))
            left -= len(texts)
        self._count -= count
        return runs

    def close(self) -> None:
        """Store what is left now, not on the flusher's next tick: the deploy's end waits."""
        self._closing.set()
        self._now.set()
        self._wake.set()
        self._flusher.join(5)
        self.flush()

    @property
    def line_count(self) -> int:
        with self._lock:
            return self._next - 1 + self._count

    def _flush_loop(self) -> None:
        try:
            while not self._closing.is_set():
                self._wake.wait()
                self._wake.clear()
                full = self._now.wait(FLUSH_DELAY)
                self._now.clear()
                if not self._closing.is_set():
                    self._flush_quietly(whole_chunks=full)
        finally:
            connection.close()  # this thread's own connection

    def _flush_quietly(self, whole_chunks=False) -> None:
        try:
            self.flush(whole_chunks)
        except Exception:
            log.exception("Could not store log lines of deploy %s; will retry", self.deploy_id)
            self._wake.set()

    def _store(self, first: int, runs) -> None:
        """The runs as rows of LogChunk, `CHUNK_LINES` lines each (the last may be shorter)."""
        chunks, parts, size = [], [], 0
        for step, stream, ms, texts in runs:
            prefix = logformat.encode(step, stream, ms, "")
            taken = 0
            while taken < len(texts):
                part = texts[taken : taken + CHUNK_LINES - size]
                parts.append(prefix + self._clean(part).replace("\n", "\n" + prefix))
                taken += len(part)
                size += len(part)
                if size == CHUNK_LINES:
                    chunks.append(self._chunk(first, size, parts))
                    first, parts, size = first + size, [], 0
        if parts:
            chunks.append(self._chunk(first, size, parts))
        self._save(chunks, first + size - 1)

    def _chunk(self, first: int, size: int, parts: list[str]) -> tuple:
        return (self.deploy_id, first, size, "\n".join(parts))

    def _clean(self, texts: list[str]) -> str:
        """The texts redacted, NUL-free and capped, joined by "\\n" (as many lines as given)."""
        joined = "\n".join(texts)
        if "\0" in joined:
            joined = joined.replace("\0", "")
        if self._pattern is not None:
            joined = self._pattern.sub(REDACTED, joined)
        # Redacting makes a line at most len(REDACTED) / MIN_SECRET times longer; only then can
        # one be too long. Capped after redacting, so a secret cut in two cannot leave half.
        if max(map(len, texts)) * len(REDACTED) > MAX_LINE * MIN_SECRET:
            joined = "\n".join(
                text if len(text) <= MAX_LINE else text[:MAX_LINE] + " [cut]"
                for text in joined.split("\n")
            )
        return joined

    def _save(self, rows: list[tuple], last_line: int) -> None:
        """One transaction: the chunks, and the deploy's line count moved on to `last_line`.

        A plain INSERT of rows: the ORM's bulk_create on PostgreSQL sends them as arrays, whose
        escaping took longer than storing them."""
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # A log chunk is not worth a wait for the disk: PostgreSQL crashing may lose the
                # last fraction of a second of lines (with their line_count), never corrupt them.
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
            cursor.executemany(INSERT_CHUNK, rows)
            Deploy.objects.filter(pk=self.deploy_id, line_count__lt=last_line).update(
                line_count=last_line
            )


INSERT_CHUNK = (
    f"INSERT INTO {LogChunk._meta.db_table} (deploy_id, first_line, line_count, content) "  # noqa: S608 - the model's own table
    "VALUES (%s, %s, %s, %s)"
)
