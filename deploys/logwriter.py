"""The one writer of a deploy's log: redacts, packs lines into LogChunk rows, flushes them.

Lines are numbered when written, kept in memory, and stored as one LogChunk per `CHUNK_LINES`
lines, by a background thread: as soon as a chunk is full, at once for a line that follows a quiet
moment (no output for `QUIET` seconds, nothing waiting to be stored), else `FLUSH_DELAY` seconds
after the first unflushed line. A live viewer sees a line printed after a pause at once, a burst
of output costs one INSERT per chunk, not one per line, and the command's output is read on
while the database stores the last chunks. Each stored range is announced to the web processes
(deploys/announce.py). Only when `MAX_PENDING` lines wait does the writing thread
store them itself, which holds back a command that prints faster than the database stores.

Lines are kept as runs: the lines one read of a command's output gave, which share their step,
stream and time. A run is cleaned and encoded whole, with string joins and replaces rather than
Python code per line, which is what lets a burst be stored at the speed the command prints it.

Redaction happens at flush time, on a run's texts joined, before anything is stored: one regex
pass over many lines is much faster than one per line. No pattern contains a newline (a private
key is redacted line by line), so the joined text splits back into the same lines.

A secret is also found when what the viewer shows holds it: with ANSI/control sequences inside
it (`ab\x1b[31mcd` shows as `abcd`), or split over consecutive lines of a step, whichever stream
they came from. Each step's text is checked once more with line ends and hidden sequences
removed (a few C-speed passes over the batch, no Python work per line); only when that finds a
secret are the lines walked one by one (`redact_visible`) and every part of it cut out. A tail
of the step's last stored lines joins the check, so a secret straddling two flushes is found
too; its earlier part is then cut out of the stored chunk (`_rewrite`).

One deploy stores at most `LOG_MAX_LINES` lines of output and `LOG_MAX_MB` of text: past it,
output lines are counted and dropped (one check per run of lines, not per line), and closing
the log adds one line saying how many.
"""

import base64
import json
import logging
import re
import threading
import time
from urllib.parse import quote, quote_plus

from django.conf import settings
from django.db import connection, transaction

from deploys import announce, logformat
from deploys.models import Deploy, LogChunk

log = logging.getLogger(__name__)
CHUNK_LINES = 2000
FLUSH_DELAY = 0.1
QUIET = 0.02  # seconds without output after which a new line is stored at once
MAX_PENDING = 4 * CHUNK_LINES
MAX_LINE = 10_000
MIN_SECRET = 8
REDACTED = "[redacted]"
TAIL_LINES = 64  # a secret split over more lines than this is not looked for
# What the viewer does not show: ANSI sequences (CSI, OSC, two-character escapes) and the other
# control characters ("\r" too: matching without it is only more careful). "\t" is shown.
HIDDEN = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]"
    r"|[\x00-\x08\x0b-\x1f\x7f]"
)


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


def longest_form(secrets) -> int:
    return max(
        (len(form) for s in secrets if s and len(s) >= MIN_SECRET for form in secret_forms(s)),
        default=0,
    )


def private_key_secrets(private_key: str) -> list[str]:
    """The whole key and each line of it, so a key printed line by line is caught too."""
    if not private_key:
        return []
    lines = [line.strip() for line in private_key.splitlines()]
    return [private_key.strip(), *(line for line in lines if len(line) >= MIN_SECRET)]


def visible(text: str) -> tuple[str, list[int]]:
    """The text as the viewer shows it, and for each of its characters the index in `text`."""
    plain, origin, start = [], [], 0
    for hidden in HIDDEN.finditer(text):
        plain.append(text[start : hidden.start()])
        origin.extend(range(start, hidden.start()))
        start = hidden.end()
    plain.append(text[start:])
    origin.extend(range(start, len(text)))
    return "".join(plain), origin


def redact_visible(pattern: re.Pattern, texts: list[str]) -> dict[int, str]:
    """{index: redacted text} of the `texts` (consecutive lines) holding part of a secret as
    shown: the lines' visible texts are searched end to end, and each line's part of a match,
    with the hidden sequences inside it, becomes one REDACTED."""
    shown = [visible(text) for text in texts]
    offsets, total = [], 0
    for plain, _ in shown:
        offsets.append(total)
        total += len(plain)
    cuts: dict[int, list[tuple[int, int]]] = {}
    for match in pattern.finditer("".join(plain for plain, _ in shown)):
        for index, (plain, origin) in enumerate(shown):
            start = max(match.start() - offsets[index], 0)
            end = min(match.end() - offsets[index], len(plain))
            if start < end:
                cuts.setdefault(index, []).append((origin[start], origin[end - 1] + 1))
    return {index: _cut(texts[index], ranges) for index, ranges in cuts.items()}


def redact_lines(pattern: re.Pattern, texts: list[str]) -> list[str]:
    """Consecutive stored lines of one step, redacted as the writer redacts them when it stores
    them: each form of a secret within a line, then (only when the lines as the viewer shows
    them still hold one) each part of it through hidden sequences or across lines. For lines
    stored before a secret was known (deploys/scrub.py)."""
    texts = pattern.sub(REDACTED, "\n".join(texts)).split("\n")
    if pattern.search(HIDDEN.sub("", "".join(texts))) is None:
        return texts
    changed = redact_visible(pattern, texts)
    return [changed.get(index, text) for index, text in enumerate(texts)]


def _cut(text: str, ranges: list[tuple[int, int]]) -> str:
    parts, last = [], 0
    for start, end in sorted(ranges):
        if start < last:  # overlaps the previous cut: extend it
            parts[-1] = (parts[-1][0], max(end, last))
            last = max(end, last)
            continue
        parts.append((start, end))
        last = end
    out, position = [], 0
    for start, end in parts:
        out += [text[position:start], REDACTED]
        position = end
    out.append(text[position:])
    return "".join(out)


class LogWriter:
    """Writes one deploy's log lines. Thread-safe; `close()` stores whatever is left."""

    def __init__(self, deploy: Deploy, secrets=(), start_line: int | None = None):
        self.deploy_id = deploy.pk
        self.step = 0
        self._secrets = list(secrets)
        self._pattern = secrets_pattern(self._secrets)
        self._longest_form = longest_form(self._secrets)
        self._next = (deploy.line_count if start_line is None else start_line) + 1
        self._runs: list[tuple[int, str, int, list[str]]] = []  # (step, stream, ms, texts)
        self._count = 0  # lines in _runs
        # The cap of output kept: lines (numbered, so it counts a resumed log's too) and text.
        self._max_line = settings.LOG_MAX_LINES
        self._room = settings.LOG_MAX_MB * 1_000_000  # characters still allowed
        self._dropped = 0  # lines past the cap
        self._tail: tuple[int, list[tuple[int, str]]] = (0, [])  # step, its last stored lines
        self._lock = threading.Lock()  # guards _runs, _count and _next
        self._flush_lock = threading.Lock()  # chunks are stored in line order
        self._wake = threading.Event()  # lines are pending
        self._now = threading.Event()  # store them without waiting out FLUSH_DELAY
        self._eager = False  # ...all of them, not only whole chunks: they follow a quiet moment
        self._written_at = 0.0  # time.monotonic() of the last output
        self._closing = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, daemon=True, name="log-flush")
        self._flusher.start()

    def add_secrets(self, secrets) -> None:
        """Redact these too, from now on (e.g. config var values fetched during the deploy)."""
        with self._flush_lock:
            self._secrets.extend(secrets)
            self._pattern = secrets_pattern(self._secrets)
            self._longest_form = longest_form(self._secrets)

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
            if stream != logformat.SYSTEM:  # herokucd's own few lines always go in
                texts = self._within_cap(texts)
                if not texts:
                    return
            last = self._runs[-1] if self._runs else None
            if last is not None and last[:3] == (step, stream, now):
                last[3].extend(texts)
            else:
                self._runs.append((step, stream, now, texts))
            first = self._count == 0
            self._count += len(texts)
            count = self._count
            moment = time.monotonic()
            quiet = first and moment - self._written_at >= QUIET
            self._written_at = moment
        if count >= MAX_PENDING:
            self.flush(whole_chunks=True)
            return
        if quiet:
            self._eager = True
            self._now.set()
        if count >= CHUNK_LINES:
            self._now.set()
        if first or count >= CHUNK_LINES:
            self._wake.set()

    def _within_cap(self, texts: list[str]) -> list[str]:
        """The texts that still fit under the caps; the rest counted as dropped (caller holds
        `_lock`). One sum per run; the walk line by line only for the run that reaches it."""
        if self._dropped:
            self._dropped += len(texts)
            return []
        fit = min(len(texts), max(self._max_line - (self._next - 1 + self._count), 0))
        size = sum(map(len, texts if fit == len(texts) else texts[:fit]))
        if size > self._room:
            fit, size = 0, 0
            while size + len(texts[fit]) <= self._room:
                size += len(texts[fit])
                fit += 1
        self._room -= size
        self._dropped = len(texts) - fit
        return texts if fit == len(texts) else texts[:fit]

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
                rewritten = self._store(first, runs)
            except BaseException:
                # Put the lines back, numbered as before, so a later flush stores them.
                with self._lock:
                    self._runs[:0] = runs
                    self._count += count
                    self._next = first
                raise
            announce.chunk_stored(self.deploy_id, first, first + count - 1, rewritten)

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
        if self._dropped:
            self.system(
                f"Log limit reached: {self._dropped:,} more lines were not stored "
                f"(at most {self._max_line:,} lines and {settings.LOG_MAX_MB:,} MB per deploy)."
            )
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
                eager, self._eager = self._eager, False
                if not self._closing.is_set():
                    self._flush_quietly(whole_chunks=full and not eager)
        finally:
            connection.close()  # this thread's own connection

    def _flush_quietly(self, whole_chunks=False) -> None:
        try:
            self.flush(whole_chunks)
        except Exception:
            log.exception("Could not store log lines of deploy %s; will retry", self.deploy_id)
            self._wake.set()

    def _store(self, first: int, runs) -> int | None:
        """The runs as rows of LogChunk, `CHUNK_LINES` lines each (the last may be shorter);
        the first line stored before that a secret was cut out of now, if any."""
        pieces, size = [], 0  # [step, stream, ms, lines, text, longest]: runs cut at chunk ends
        for step, stream, ms, texts in runs:
            taken = 0
            while taken < len(texts):
                part = texts[taken : taken + CHUNK_LINES - size]
                pieces.append([step, stream, ms, len(part), *self._clean(part)])
                taken += len(part)
                size = (size + len(part)) % CHUNK_LINES
        rewrites = self._redact(first, pieces) if self._pattern is not None else {}
        stored_from = first
        chunks, parts, size = [], [], 0
        for step, stream, ms, count, text, longest in pieces:
            prefix = logformat.encode(step, stream, ms, "")
            parts.append(prefix + _capped(text, longest).replace("\n", "\n" + prefix))
            size += count
            if size == CHUNK_LINES:
                chunks.append(self._chunk(first, size, parts))
                first, parts, size = first + size, [], 0
        if parts:
            chunks.append(self._chunk(first, size, parts))
        self._save(chunks, first + size - 1, rewrites)
        return min((number for number in rewrites if number < stored_from), default=None)

    def _chunk(self, first: int, size: int, parts: list[str]) -> tuple:
        return (self.deploy_id, first, size, "\n".join(parts))

    @staticmethod
    def _clean(texts: list[str]) -> tuple[str, int]:
        """The texts NUL-free, joined by "\\n" (as many lines as given); the longest length."""
        joined = "\n".join(texts)
        if "\0" in joined:
            joined = joined.replace("\0", "")
        return joined, max(map(len, texts))

    def _redact(self, first: int, pieces: list[list]) -> dict[int, str]:
        """Secrets the viewer would show whole across lines or hidden sequences, cut out of the
        pieces' texts (in place), step by step; {line number: text} of stored lines to rewrite."""
        rewrites, start = {}, 0
        while start < len(pieces):
            step, end, count = pieces[start][0], start, 0
            while end < len(pieces) and pieces[end][0] == step:
                count += pieces[end][3]
                end += 1
            rewrites |= self._redact_step(step, first + count - 1, pieces[start:end])
            first += count
            start = end
        return rewrites

    def _redact_step(self, step: int, last: int, pieces: list[list]) -> dict[int, str]:
        """One step's pieces, whose last line is `last`.

        A secret within a line is also one in the step's text with line ends removed: one
        search there decides whether anything needs redacting (most batches hold no secret)."""
        tail_step, tail = self._tail
        tail = tail if tail_step == step else []
        rewrites = {}
        if self._shows_secret(tail, pieces):
            for piece in pieces:
                piece[4] = self._pattern.sub(REDACTED, piece[4])
            if self._shows_secret(tail, pieces):  # through hidden sequences or across lines
                rewrites = self._redact_visible(tail, pieces)
        joined = [_capped(piece[4], piece[5]) for piece in pieces]
        self._tail = (step, self._last_lines(tail, joined, last, rewrites))
        return rewrites

    def _redact_visible(self, tail, pieces: list[list]) -> dict[int, str]:
        """The slow path, line by line: each part of a secret shown across lines cut out."""
        texts = [text for _, text in tail]
        for piece in pieces:
            texts.extend(piece[4].split("\n"))
        changed = redact_visible(self._pattern, texts)
        position = len(tail)
        for piece in pieces:
            count = piece[3]
            lines = [changed.get(position + n, texts[position + n]) for n in range(count)]
            piece[4] = "\n".join(lines)
            piece[5] = MAX_LINE * MIN_SECRET  # a cut part may have grown: check every line
            position += count
        return {tail[i][0]: text for i, text in changed.items() if i < len(tail)}

    def _shows_secret(self, tail, pieces) -> bool:
        """Whether the step's text, read as the viewer shows it end to end, holds a secret."""
        flat = "".join(text for _, text in tail)
        flat += "".join(piece[4] for piece in pieces).replace("\n", "")
        if not flat.isprintable():  # a C-speed scan; false for "\t" too, which HIDDEN keeps
            flat = HIDDEN.sub("", flat)
        return self._pattern.search(flat) is not None

    def _last_lines(self, tail, joined_runs, last, rewrites) -> list[tuple[int, str]]:
        """(number, text) of the step's last lines holding together at least the visible length
        of the longest secret form less one: what a secret begun there could straddle."""
        need = self._longest_form - 1
        newest: list[str] = []
        for joined in reversed(joined_runs):  # a few lines from the end, not the whole batch
            parts = joined.rsplit("\n", TAIL_LINES)
            cut = len(parts) > TAIL_LINES  # parts[0] is the rest of the run
            newest[:0] = parts[1:] if cut else parts
            if cut or sum(map(_visible_length, newest)) >= need:
                break
        else:  # the new lines are too few: the old tail's end goes on before them
            newest[:0] = [rewrites.get(number, text) for number, text in tail]
        numbers = range(last - len(newest) + 1, last + 1)
        return _trimmed(list(zip(numbers, newest, strict=True)), need)

    def _save(self, rows: list[tuple], last_line: int, rewrites=None) -> None:
        """One transaction: the chunks, and the deploy's line count moved on to `last_line`.

        A plain INSERT of rows: the ORM's bulk_create on PostgreSQL sends them as arrays, whose
        escaping took longer than storing them."""
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # A log chunk is not worth a wait for the disk: PostgreSQL crashing may lose the
                # last fraction of a second of lines (with their line_count), never corrupt them.
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
            cursor.executemany(INSERT_CHUNK, rows)
            for number, text in (rewrites or {}).items():
                _rewrite(cursor, self.deploy_id, number, text)
            Deploy.objects.filter(pk=self.deploy_id, line_count__lt=last_line).update(
                line_count=last_line
            )


def _capped(joined: str, longest: int) -> str:
    """Lines of `joined` longer than MAX_LINE cut there (after redacting, so a secret cut in
    two leaves none). Redacting makes a line at most len(REDACTED) / MIN_SECRET times longer
    (the slow path, which may replace one character, passes a `longest` that checks every
    line): only then can one be too long."""
    if longest * len(REDACTED) > MAX_LINE * MIN_SECRET:
        joined = "\n".join(
            text if len(text) <= MAX_LINE else text[:MAX_LINE] + " [cut]"
            for text in joined.split("\n")
        )
    return joined


def _visible_length(text: str) -> int:
    return len(text) if text.isprintable() else len(HIDDEN.sub("", text))


def _trimmed(lines: list[tuple[int, str]], need: int) -> list[tuple[int, str]]:
    """The last of `lines` whose visible texts together hold at least `need` characters."""
    kept, have = [], 0
    for number, text in reversed(lines):
        if have >= need:
            break
        kept.append((number, text))
        have += _visible_length(text)
    return kept[::-1]


def _rewrite(cursor, deploy_id: int, number: int, text: str) -> None:
    """Line `number`, already stored, gets `text` (the part of a secret it held is cut out)."""
    cursor.execute(SELECT_CHUNK, [deploy_id, number, number])
    row = cursor.fetchone()
    if row is None:
        return
    pk, first_line, content = row
    lines = content.split("\n")
    head = lines[number - first_line].split("\t", 3)
    lines[number - first_line] = "\t".join([*head[:3], text])
    cursor.execute(UPDATE_CHUNK, ["\n".join(lines), pk])


SELECT_CHUNK = (
    f"SELECT id, first_line, content FROM {LogChunk._meta.db_table} "  # noqa: S608 - our table
    "WHERE deploy_id = %s AND first_line <= %s AND first_line + line_count > %s"
)
UPDATE_CHUNK = f"UPDATE {LogChunk._meta.db_table} SET content = %s WHERE id = %s"  # noqa: S608
INSERT_CHUNK = (
    f"INSERT INTO {LogChunk._meta.db_table} (deploy_id, first_line, line_count, content) "  # noqa: S608 - the model's own table
    "VALUES (%s, %s, %s, %s)"
)
