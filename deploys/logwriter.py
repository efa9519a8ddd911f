"""The one writer of a deploy's log: redacts, packs lines into LogChunk rows, flushes them.

Lines are numbered when written, kept in memory, and stored as one LogChunk per `CHUNK_LINES`
lines: when a chunk fills (by the writing thread) or `FLUSH_DELAY` seconds after the first
unflushed line (by a background thread), so a live viewer sees a line within a fraction of a
second while a burst of output costs one INSERT per chunk, not one per line.

Redaction happens at flush time, on all the chunk's texts joined, before anything is stored:
one regex pass over a chunk is much faster than one per line. Secrets never contain a newline
(a private key is redacted line by line), so the joined text splits back into the same lines.
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
MAX_LINE = 10_000
MIN_SECRET = 8
REDACTED = "[redacted]"


def secret_forms(secret: str) -> set[str]:
    """The ways a secret shows up in output: raw, base64, url-encoded and JSON-escaped."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    forms |= _base64_forms(secret.encode())
    return {form for form in forms if len(form) >= MIN_SECRET}


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
        self._pending: list[tuple] = []
        self._lock = threading.Lock()  # guards _pending and _next
        self._flush_lock = threading.Lock()  # chunks are stored in line order
        self._wake = threading.Event()
        self._closing = threading.Event()  # cuts the flusher's wait short: close() flushes now
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
        now = int(time.time() * 1000)
        for line in text.split("\n"):
            self._append((self.step, stream, now, line))

    def system(self, text: str) -> None:
        """A line herokucd itself writes (what it does and why)."""
        self.write(text, logformat.SYSTEM)

    def lines(self, lines, stream: str = logformat.STDOUT) -> None:
        """Many lines at once, each without its line ending."""
        now = int(time.time() * 1000)
        step = self.step
        with self._lock:
            self._pending.extend((step, stream, now, line) for line in lines)
            full = len(self._pending) >= CHUNK_LINES
        self._after_append(full)

    def _append(self, item) -> None:
        with self._lock:
            self._pending.append(item)
            count = len(self._pending)
        self._after_append(count >= CHUNK_LINES, first=count == 1)

    def _after_append(self, full: bool, first: bool = True) -> None:
        if full:
            self.flush()
        elif first:
            self._wake.set()

    def flush(self) -> None:
        with self._flush_lock:
            with self._lock:
                pending, self._pending = self._pending, []
                first = self._next
                self._next += len(pending)
            if not pending:
                return
            try:
                self._store(first, pending)
            except BaseException:
                # Put the lines back, numbered as before, so a later flush stores them.
                with self._lock:
                    self._pending[:0] = pending
                    self._next = first
                raise

    def close(self) -> None:
        """Store what is left now, not on the flusher's next tick: the deploy's end waits."""
        self._closing.set()
        self._wake.set()
        self._flusher.join(5)
        self.flush()

    @property
    def line_count(self) -> int:
        with self._lock:
            return self._next - 1 + len(self._pending)

    def _flush_loop(self) -> None:
        try:
            while not self._closing.is_set():
                self._wake.wait()
                self._wake.clear()
                if not self._closing.wait(FLUSH_DELAY):
                    self._flush_quietly()
        finally:
            connection.close()  # this thread's own connection

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except Exception:
            log.exception("Could not store log lines of deploy %s; will retry", self.deploy_id)
            self._wake.set()

    def _store(self, first: int, pending: list[tuple]) -> None:
        texts = self._clean([item[3] for item in pending])
        chunks = []
        for start in range(0, len(pending), CHUNK_LINES):
            part = pending[start : start + CHUNK_LINES]
            content = "\n".join(
                logformat.encode(step, stream, ms, text)
                for (step, stream, ms, _), text in zip(part, texts[start:], strict=False)
            )
            line = LogChunk(
                deploy_id=self.deploy_id,
                first_line=first + start,
                line_count=len(part),
                content=content,
            )
            chunks.append(line)
        self._save(chunks, first + len(pending) - 1)

    def _clean(self, texts: list[str]) -> list[str]:
        """Redacted, NUL-free, capped texts, as many as given."""
        joined = "\n".join(texts).replace("\0", "")
        if self._pattern is not None:
            joined = self._pattern.sub(REDACTED, joined)
        cleaned = joined.split("\n")
        # Capped after redacting, so a secret cut in two cannot leave half of itself.
        return [text if len(text) <= MAX_LINE else text[:MAX_LINE] + " [cut]" for text in cleaned]

    def _save(self, chunks, last_line: int) -> None:
        with transaction.atomic():
            LogChunk.objects.bulk_create(chunks)
            Deploy.objects.filter(pk=self.deploy_id, line_count__lt=last_line).update(
                line_count=last_line
            )
