"""Scrubbing a project's stored logs when one of its secrets changes.

A replaced Heroku key, a config var added to an environment's redaction list, an encryption-key
rotation: lines stored before may hold a value the log writer did not know then. `start()`
records a LogScrub and queues `run_scrub(scrub_id)`, which rewrites the project's log chunks
with the writer's own redaction (`logwriter.redact_lines`), oldest chunk first:

1. Claim the scrub (queued or running -> running); a finished one is left alone.
2. Gather the secrets: the values kept encrypted on the scrub (the replaced key), the config
   vars it names read from Heroku once (then kept encrypted on it too, so a resumed scrub
   redacts the same values), the project's current key and deploy key.
3. Each chunk after `last_chunk`: decode it, redact each step's lines (with the end of the
   chunk before, so a secret straddling two chunks goes too), and write it back with a
   conditional UPDATE (the content must be what was read) in one transaction with the scrub's
   progress. Readers see the old chunk or the new one, never half of each; a crash resumes
   after the last chunk done. A chunk that cannot be decoded is left as it is and named.
4. Deploy reasons (shown on pages, outside the log) are redacted too; the scrub ends, its
   values are emptied, and the audit trail says what it did.

No value is ever an argument of the job, a column outside ciphertext, or a log line.
"""

import json
import logging
import time
from datetime import timedelta
from itertools import groupby

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from deploys import announce, jobs
from deploys.logformat import decode_chunk
from deploys.logwriter import (
    REDACTED,
    TAIL_LINES,
    private_key_secrets,
    redact_lines,
    secrets_pattern,
)
from deploys.models import Deploy, LogChunk
from deploys.scrub_models import LogScrub, ScrubState
from herokucd.heroku import HerokuClient, HerokuError
from projects import audit, pagecache
from projects.models import Environment

log = logging.getLogger(__name__)
JOB_TIMEOUT = 6 * 3600  # a killed or timed-out scrub resumes: this only bounds one run
STALE_SECONDS = 300  # an unfinished scrub unchanged this long lost its job: queued again
RETRIES = 5  # a chunk changed while it was scrubbed (the writer cut a secret) is read again
RUN_SCRUB = "deploys.scrub.run_scrub"


class Unreadable(Exception):
    """A chunk that is not in the log format: str() says where and why."""


class Raced(Exception):
    """The chunk changed between reading and writing it."""


# -- starting -------------------------------------------------------------------------------


def start(project, actor, reason, values=(), config_vars=None) -> LogScrub:
    """Record a scrub of `project`'s logs and queue it once the row is committed.
    `values`: secrets no encrypted source keeps any more (kept encrypted on the scrub);
    `config_vars`: {app: [names]} whose values the job reads from Heroku."""
    scrub = LogScrub.objects.create(
        project=project,
        reason=reason[:300],
        requested_by=actor,
        values=json.dumps([v for v in values if v]) if any(values) else "",
        config_vars=config_vars or {},
        chunks_total=_chunks(project.pk).count(),
    )
    audit.record(project, actor, "logs.scrub_started", reason=reason[:300], scrub=scrub.pk)
    pagecache.touch(project.pk)
    transaction.on_commit(lambda: enqueue(scrub.pk), robust=True)
    return scrub


def secret_config_vars(project) -> dict[str, list[str]]:
    """{app: [names]} of every environment's config vars redacted from the logs."""
    names: dict[str, list[str]] = {}
    for environment in project.environments.exclude(secret_config_vars=""):
        wanted = Environment.split_names(environment.secret_config_vars)
        names.setdefault(environment.app_name, []).extend(wanted)
    return names


def enqueue(scrub_id: int):
    description = f"scrub the stored logs (log scrub {scrub_id})"
    return jobs.get_queue().enqueue(
        run_scrub, scrub_id, job_timeout=JOB_TIMEOUT, description=description, result_ttl=600
    )


def requeue_stalled(stale_seconds: int = STALE_SECONDS) -> list[int]:
    """Queue again the unfinished scrubs nothing moved for a while (their worker died, or their
    job was lost); a scrub run twice at once is safe, each chunk's UPDATE is conditional."""
    since = timezone.now() - timedelta(seconds=stale_seconds)
    stalled = LogScrub.objects.filter(
        state__in=[ScrubState.QUEUED, ScrubState.RUNNING], updated_at__lt=since
    )
    ids = list(stalled.values_list("pk", flat=True))
    for scrub_id in ids:
        LogScrub.objects.filter(pk=scrub_id).update(updated_at=timezone.now())
        enqueue(scrub_id)
    return ids


# -- running --------------------------------------------------------------------------------


def run_scrub(scrub_id: int) -> str:
    claimed = LogScrub.objects.filter(
        pk=scrub_id, state__in=[ScrubState.QUEUED, ScrubState.RUNNING]
    ).update(state=ScrubState.RUNNING, updated_at=timezone.now())
    if not claimed:
        return "finished already"
    scrub = LogScrub.objects.select_related(
        "project__heroku_credential", "project__deploy_key"
    ).get(pk=scrub_id)
    try:
        pattern = secrets_pattern(_secrets(scrub))
    except HerokuError as error:
        _problem(scrub, f"Heroku could not be asked for the config vars to redact: {error}")
        _finish(scrub)
        return "no secrets"
    if pattern is None:
        _problem(scrub, "No secret of 8 characters or more to look for: nothing was changed.")
    else:
        _scrub_chunks(scrub, pattern)
        _scrub_reasons(scrub, pattern)
    _finish(scrub)
    return "done"


def _secrets(scrub) -> list[str]:
    """The values to redact (never logged, never stored outside ciphertext)."""
    values = json.loads(scrub.values) if scrub.values else []
    if scrub.config_vars:
        values += _config_var_values(scrub)
        # Kept, encrypted, for a resumed run: Heroku's values may change meanwhile.
        scrub.values = json.dumps(values)
        scrub.config_vars = {}
        scrub.save(update_fields=["values", "config_vars", "updated_at"])
    project = scrub.project
    credential = getattr(project, "heroku_credential", None)
    deploy_key = getattr(project, "deploy_key", None)
    if credential is not None:
        values.append(credential.api_key)
    if deploy_key is not None:
        values += private_key_secrets(deploy_key.private_key)
    return values


def _config_var_values(scrub) -> list[str]:
    credential = getattr(scrub.project, "heroku_credential", None)
    if credential is None:
        raise HerokuError("this project has no Heroku API key")
    values = []
    with HerokuClient(credential.api_key) as client:
        for app, names in scrub.config_vars.items():
            found = client.config_vars(app)
            values += [found[name] for name in names if found.get(name)]
    return values


def _scrub_chunks(scrub, pattern):
    pause = getattr(settings, "LOG_SCRUB_PAUSE_SECONDS", 0)
    while True:
        chunk_id = (
            _chunks(scrub.project_id)
            .filter(pk__gt=scrub.last_chunk)
            .values_list("pk", flat=True)
            .first()
        )
        if chunk_id is None:
            return
        problem = _scrub_one(scrub, pattern, chunk_id)
        if problem:
            _problem(scrub, problem)
        scrub.last_chunk = chunk_id
        if pause:  # spares the database a long scrub's steady load
            time.sleep(pause)


def _scrub_one(scrub, pattern, chunk_id) -> str:
    """Scrub one chunk, its progress saved with it; what went wrong, in words ("": nothing)."""
    for _ in range(RETRIES):
        try:
            with transaction.atomic():
                _progress(scrub, chunk_id, _rewrite(pattern, chunk_id))
            return ""
        except Raced:
            continue
        except Unreadable as unreadable:
            _progress(scrub, chunk_id, False)
            return str(unreadable)
    _progress(scrub, chunk_id, False)
    return f"{_where(chunk_id)} kept changing while it was scrubbed: left as it is."


def _progress(scrub, chunk_id, changed):
    # Conditional: a second run of the same scrub (queued again while the first still ran)
    # counts no chunk twice.
    LogScrub.objects.filter(pk=scrub.pk, last_chunk__lt=chunk_id).update(
        last_chunk=chunk_id,
        chunks_done=F("chunks_done") + 1,
        chunks_changed=F("chunks_changed") + int(changed),
        updated_at=timezone.now(),
    )


def _rewrite(pattern, chunk_id) -> bool:
    """Redact the chunk, and the end of the chunk before it when a secret straddles both;
    each written only if it is still what was read. Whether anything changed."""
    chunk = LogChunk.objects.filter(pk=chunk_id).first()
    if chunk is None:  # the deploy was deleted meanwhile
        return False
    lines = _decode(chunk)
    before = _chunk_before(chunk)
    tail = _tail(before, lines[0].step) if before is not None else []
    new = {}
    for _, group in groupby([*tail, *lines], key=lambda line: line.step):
        group = list(group)
        for line, text in zip(group, redact_lines(pattern, [g.text for g in group]), strict=True):
            if text != line.text:
                new[line.number] = text
    if not new:
        return False
    if before is not None and any(number < chunk.first_line for number in new):
        _write(before, new)
    _write(chunk, new)
    return True


def _decode(chunk) -> list:
    try:
        lines = list(decode_chunk(chunk.first_line, chunk.content))
    except ValueError:
        # Not the error's words: they quote the stored text, which may hold the secret.
        raise Unreadable(
            f"{_where(chunk.pk)} is not in herokucd's log format and could not be read: left "
            "as it is (it may still hold the secret)."
        ) from None
    if len(lines) != chunk.line_count or not lines:
        raise Unreadable(
            f"{_where(chunk.pk)} holds {len(lines)} lines, not {chunk.line_count}: left as it is."
        )
    return lines


def _chunk_before(chunk):
    return (
        LogChunk.objects.filter(deploy_id=chunk.deploy_id, first_line__lt=chunk.first_line)
        .order_by("-first_line")
        .first()
    )


def _tail(before, step) -> list:
    """The last lines of the chunk before, of the step the chunk begins with."""
    try:
        lines = _decode(before)
    except Unreadable:
        return []  # named when it was scrubbed itself
    tail = []
    for line in reversed(lines[-TAIL_LINES:]):
        if line.step != step:
            break
        tail.append(line)
    return tail[::-1]


def _write(chunk, new):
    raws = chunk.content.split("\n")
    for number, text in new.items():
        offset = number - chunk.first_line
        if 0 <= offset < len(raws):
            raws[offset] = "\t".join([*raws[offset].split("\t", 3)[:3], text])
    content = "\n".join(raws)
    if content == chunk.content:
        return
    if not LogChunk.objects.filter(pk=chunk.pk, content=chunk.content).update(content=content):
        raise Raced
    # The live log's watches of a running deploy forget the lines they kept (deploys/stream.py).
    last = chunk.first_line + chunk.line_count - 1
    transaction.on_commit(
        lambda: announce.chunk_stored(chunk.deploy_id, chunk.first_line, last, chunk.first_line)
    )


def _scrub_reasons(scrub, pattern):
    """Deploy reasons are stored redacted by the writer too: the same for the new secrets."""
    for deploy in Deploy.objects.filter(project_id=scrub.project_id).exclude(reason=""):
        if pattern.search(deploy.reason):
            Deploy.objects.filter(pk=deploy.pk, reason=deploy.reason).update(
                reason=pattern.sub(REDACTED, deploy.reason)
            )


def _problem(scrub, text):
    scrub.refresh_from_db(fields=["problems"])
    scrub.problems = [*scrub.problems, text]
    scrub.save(update_fields=["problems", "updated_at"])


def _finish(scrub):
    scrub.refresh_from_db()
    scrub.state = ScrubState.FAILED if scrub.problems else ScrubState.SUCCEEDED
    scrub.values, scrub.config_vars, scrub.finished_at = "", {}, timezone.now()
    scrub.save(update_fields=["state", "values", "config_vars", "finished_at", "updated_at"])
    audit.record(
        scrub.project,
        scrub.requested_by,
        "logs.scrubbed",
        reason=scrub.reason,
        chunks=scrub.chunks_done,
        changed=scrub.chunks_changed,
        problems=len(scrub.problems),
    )
    pagecache.touch(scrub.project_id)


def _chunks(project_id):
    return LogChunk.objects.filter(deploy__project_id=project_id).order_by("pk")


def _where(chunk_id) -> str:
    chunk = LogChunk.objects.filter(pk=chunk_id).select_related("deploy").first()
    if chunk is None:
        return f"Log chunk {chunk_id}"
    last = chunk.first_line + chunk.line_count - 1
    return f"Deploy #{chunk.deploy.number}, lines {chunk.first_line}-{last},"
