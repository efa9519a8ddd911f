"""The one module through which herokucd talks to Heroku.

Every Platform API call, every Postgres data API call and every attached one-off dyno goes
through `HerokuClient`, so timeouts, retries, error wording and secret handling live in one
place. Facts about Heroku's behaviour come from docs/heroku.md (sections noted).

The API key is a credential for the user's whole Heroku account. It lives only in the
session's Authorization header: it is never put in a URL, a log record, an exception or a repr,
and exceptions from requests are replaced (not chained) because they carry the prepared
request, headers included.
"""

from __future__ import annotations

import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Self
from urllib.parse import quote, urlsplit

import requests
from django.conf import settings

from herokucd import __version__, http
from herokucd.lines import LineDecoder

__all__ = [
    "Backup",
    "BackupTimeout",
    "DynoCanceled",
    "DynoError",
    "DynoTimeout",
    "Forbidden",
    "HerokuClient",
    "HerokuError",
    "InvalidParams",
    "NoExitStatus",
    "NotFound",
    "RateLimited",
    "StreamIdle",
    "Unauthorized",
    "Unavailable",
]

USER_AGENT = f"herokucd/{__version__}"
ACCEPT = "application/vnd.heroku+json; version=3"
DEFAULT_API_URL = "https://api.heroku.com"
DEFAULT_DATA_API_URL = "https://api.data.heroku.com"
DEFAULT_GIT_URL = "https://git.heroku.com"
# The CLI's `heroku run --exit-code` trick (docs/heroku.md §2.7): rendezvous has no exit-code frame.
EXIT_MARKER = "\uffff heroku-command-exit-status:"
EXIT_ECHO = f'; echo "{EXIT_MARKER} $?"'
# Heroku caps time_to_live at one day (docs/heroku.md §2.6).
MAX_TIME_TO_LIVE = 86400
# Short socket reads let run_attached notice a cancel or a deadline within half a second.
POLL_TICK = 0.5
# An output stream silent this long is given up and opened again (Range): the reader then
# notices a cancel or a deadline.
STREAM_IDLE_SECONDS = 5

log = logging.getLogger(__name__)
JSON = dict[str, Any]


# -- Errors ---------------------------------------------------------------------------------


class HerokuError(Exception):
    """A Heroku call failed. str() is words fit to show the user.

    `id` and `message` are Heroku's own (docs/heroku.md §1.2), `status` the HTTP status
    (None when no response arrived), `request_id` Heroku's Request-Id for support tickets.
    """

    default_message = "Heroku could not complete the request."

    def __init__(self, message=None, *, id=None, status=None, url=None, request_id=None):
        self.message = message or self.default_message
        self.id = id
        self.status = status
        self.url = url
        self.request_id = request_id
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, status={self.status!r})"


class Unauthorized(HerokuError):
    default_message = "Heroku rejected this API key (it is invalid, expired or revoked)."


class Forbidden(HerokuError):
    default_message = "This Heroku account is not allowed to do that."


class NotFound(HerokuError):
    default_message = "Heroku could not find that (or this account cannot see it)."


class InvalidParams(HerokuError):
    default_message = "Heroku refused the request as invalid."


class RateLimited(HerokuError):
    default_message = "This Heroku account reached the API rate limit; try again in a minute."

    def __init__(self, message=None, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class Unavailable(HerokuError):
    default_message = "Heroku could not be reached."


class DynoError(HerokuError):
    """An attached one-off dyno did not report an exit status; `dyno` is its name."""

    def __init__(self, message=None, *, dyno: str | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.dyno = dyno


class DynoTimeout(DynoError):
    """The one-off dyno ran past its time limit; herokucd has asked Heroku to stop it."""


class DynoCanceled(DynoError):
    """The run was canceled; herokucd has asked Heroku to stop the dyno."""


class NoExitStatus(DynoError):
    """The dyno's output ended without the exit status marker (crashed, killed, cut off)."""


class StreamIdle(HerokuError):
    """An output stream sent nothing for a while; it was closed, to be opened again."""


class BackupTimeout(HerokuError):
    """The backup did not finish in time. It may still finish on Heroku."""


class RestoreFailed(HerokuError):
    """Heroku ran the restore and it failed; str() ends with the restore's last log lines."""


ERRORS_BY_STATUS = {401: Unauthorized, 403: Forbidden, 404: NotFound, 422: InvalidParams}


# -- Results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backup:
    """A Heroku Postgres backup (a "transfer", docs/heroku.md §4)."""

    name: str  # as users see it in `heroku pg:backups`: "b005", "a012" when scheduled, "r006"
    uuid: str
    num: int
    succeeded: bool | None  # None while running
    finished_at: str | None
    processed_bytes: int | None
    transfer: JSON

    @classmethod
    def from_transfer(cls, transfer: JSON) -> Backup:
        num = int(transfer["num"])
        # As the CLI names transfers: a restore is "r005" ("c005" when copied from a database).
        if transfer.get("to_type") == "pg_restore":
            prefix = "c" if transfer.get("from_type") == "pg_dump" else "r"
        else:
            prefix = "a" if transfer.get("schedule") else "b"
        return cls(
            name=f"{prefix}{num:03d}",
            uuid=transfer["uuid"],
            num=num,
            succeeded=transfer.get("succeeded"),
            finished_at=transfer.get("finished_at"),
            processed_bytes=transfer.get("processed_bytes"),
            transfer=transfer,
        )


# -- The client -------------------------------------------------------------------------------


def _segment(value: object) -> str:
    """Quote one path segment so an id can never step into another path."""
    return quote(str(value), safe="")


def _setting(name: str, default: str | None) -> str | None:
    return getattr(settings, name, None) or default


class HerokuClient:
    """A Heroku account, reached with one API key.

    URLs left as None are read from settings (HEROKU_API_URL, HEROKU_DATA_API_URL,
    HEROKU_GIT_URL) at call time, so tests and settings changes apply without a new client.
    Idempotent calls are retried `retries` times on 429, 5xx and network errors, waiting
    `backoff` * 2**attempt seconds (or Retry-After, up to `max_wait`). `page_size` is the
    Range max for lists (Heroku allows up to 1000).
    """

    def __init__(
        self,
        api_key: str,
        api_url: str | None = None,
        data_api_url: str | None = None,
        git_url: str | None = None,
        timeout: float | tuple[float, float] = (5.0, 30.0),
        retries: int = 3,
        backoff: float = 0.5,
        max_wait: float = 20.0,
        page_size: int = 1000,
    ):
        self._api_url = api_url
        self._data_api_url = data_api_url
        self._git_url = git_url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.page_size = page_size
        self._session = requests.Session()
        self._session.headers.update(_headers(api_key))

    def __repr__(self) -> str:
        return f"<HerokuClient {self.api_url}>"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def api_url(self) -> str:
        return (self._api_url or _setting("HEROKU_API_URL", DEFAULT_API_URL)).rstrip("/")

    @property
    def data_api_url(self) -> str:
        url = self._data_api_url or _setting("HEROKU_DATA_API_URL", DEFAULT_DATA_API_URL)
        return url.rstrip("/")

    def git_url(self, app: str) -> str:
        """The app's HTTPS git remote, without credentials (docs/heroku.md §3.3)."""
        base = self._git_url or _setting("HEROKU_GIT_URL", DEFAULT_GIT_URL)
        return f"{base.rstrip('/')}/{_segment(app)}.git"

    # -- Account --------------------------------------------------------------------------

    def account(self) -> JSON:
        return self._call("GET", "/account")

    def rate_limits(self) -> JSON:
        """{"remaining": N}; this call does not use up the rate limit itself."""
        return self._call("GET", "/account/rate-limits")

    def list_keys(self) -> list[JSON]:
        return self._list("/account/keys")

    def add_key(self, public_key: str) -> JSON:
        # Legacy endpoint, still used by the CLI's keys:add (docs/heroku.md §2.1).
        return self._call("POST", "/account/keys", json={"public_key": public_key})

    def remove_key(self, key_id: str) -> None:
        self._call("DELETE", f"/account/keys/{_segment(key_id)}", idempotent=True)

    # -- Apps, formation, config ------------------------------------------------------------

    def app(self, name: str) -> JSON:
        return self._call("GET", f"/apps/{_segment(name)}")

    def set_maintenance(self, app: str, on: bool) -> JSON:
        body = {"maintenance": bool(on)}
        return self._call("PATCH", f"/apps/{_segment(app)}", json=body, idempotent=True)

    def formation(self, app: str) -> list[JSON]:
        return self._list(f"/apps/{_segment(app)}/formation")

    def scale(self, app: str, quantities: Mapping[str, int]) -> list[JSON]:
        """Set absolute quantities per process type in one batch call."""
        updates = [{"type": kind, "quantity": int(n)} for kind, n in quantities.items()]
        path = f"/apps/{_segment(app)}/formation"
        return self._call("PATCH", path, json={"updates": updates}, idempotent=True)

    def addons(self, app: str) -> list[JSON]:
        return self._list(f"/apps/{_segment(app)}/addons")

    def config_vars(self, app: str) -> dict[str, str]:
        return self._call("GET", f"/apps/{_segment(app)}/config-vars")

    def update_config_vars(self, app: str, changes: Mapping[str, str | None]) -> dict[str, str]:
        """Set config vars; a None value deletes the var. Returns all vars after the change."""
        path = f"/apps/{_segment(app)}/config-vars"
        return self._call("PATCH", path, json=dict(changes), idempotent=True)

    # -- Releases -------------------------------------------------------------------------

    def releases(self, app: str, limit: int | None = None) -> list[JSON]:
        """The app's releases, newest first; all of them, or only the newest `limit`."""
        path = f"/apps/{_segment(app)}/releases"
        page = min(limit or self.page_size, self.page_size)
        # Release lists sort by version (docs/heroku.md §1.4, the CLI's own Range).
        first_range = f"version ..; max={page}, order=desc"
        return self._list(path, first_range, limit=limit)

    def release(self, app: str, id_or_version: str | int) -> JSON:
        return self._call("GET", f"/apps/{_segment(app)}/releases/{_segment(id_or_version)}")

    def slug(self, app: str, slug_id: str) -> JSON:
        return self._call("GET", f"/apps/{_segment(app)}/slugs/{_segment(slug_id)}")

    def release_commit(self, app: str, release: JSON) -> str | None:
        """The commit `release` runs, from its slug; None for a release without code (an app's
        first releases) or a slug Heroku built without one."""
        slug = release.get("slug") or {}
        return self.slug(app, slug["id"]).get("commit") if slug.get("id") else None

    def create_release(self, app: str, slug_id: str, description: str | None = None) -> JSON:
        """A new release of an existing slug (docs/heroku.md §2.5: Create with `slug`).
        Never retried: a retry could make two releases."""
        body = {"slug": slug_id, **({"description": description} if description else {})}
        return self._call("POST", f"/apps/{_segment(app)}/releases", json=body)

    def output_stream(
        self, url: str, offset: int = 0, idle_timeout: float = STREAM_IDLE_SECONDS
    ) -> Iterator[bytes]:
        """The bytes of a release's `output_stream_url` from byte `offset` on, as they come
        (docs/heroku.md §6.1: resumed with `Range`). It ends when Heroku ends the stream or
        sends nothing for `idle_timeout` seconds (then open it again from where it stopped);
        NotFound while the release command has not started; Unavailable when the connection
        broke. The URL is the stream's only key: the API key is never sent to it, and it goes
        out through herokucd/http.py's policy, as it is not the API's own host."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            with http.stream(
                url,
                headers=headers,
                what="Reading the release phase's output",
                timeout=self._connect_timeout,
                idle_timeout=idle_timeout,
            ) as answer:
                if answer.status == 416:  # nothing after `offset`, and nothing more to come
                    return
                if answer.status >= 400:
                    raise _stream_error(answer.status)
                skip = offset if answer.status == 200 else 0  # the Range was not honoured
                for chunk in answer.chunks():
                    chunk, skip = chunk[skip:], max(0, skip - len(chunk))
                    if chunk:
                        yield chunk
        except http.Idle as idle:
            raise StreamIdle(str(idle)) from None
        except http.Refused as refused:
            raise Forbidden(str(refused)) from None
        except http.RequestFailed as error:
            raise Unavailable(f"The release phase's output stream broke off: {error}.") from None

    def rollback(self, app: str, release_id: str) -> JSON:
        """Create a new release that copies `release_id` (docs/heroku.md §2.5)."""
        path = f"/apps/{_segment(app)}/releases"
        return self._call("POST", path, json={"release": release_id})

    # -- Build API (docs/heroku.md §6.4) ----------------------------------------------------

    def create_source(self) -> JSON:
        """A place to upload a source tarball: {"source_blob": {"put_url", "get_url"}}."""
        return self._call("POST", "/sources")

    def create_build(self, app: str, url: str, checksum: str, version: str) -> JSON:
        """Build the tarball at `url` (`checksum` "SHA256:<hex>", `version` the commit) and
        release it. Never retried: a retry could build and release twice."""
        blob = {"url": url, "checksum": checksum, "version": version}
        return self._call("POST", f"/apps/{_segment(app)}/builds", json={"source_blob": blob})

    def build(self, app: str, build_id: str) -> JSON:
        return self._call("GET", f"/apps/{_segment(app)}/builds/{_segment(build_id)}")

    def cancel_build(self, app: str, build_id: str) -> JSON:
        """Stop a pending build, with the Accept variant the CLI's `builds:cancel` sends
        (heroku/heroku-builds src/commands/builds/cancel.ts)."""
        url = f"{self.api_url}/apps/{_segment(app)}/builds/{_segment(build_id)}"
        accept = {"Accept": f"{ACCEPT}.cancel-build"}
        return _body(self._request("DELETE", url, True, headers=accept))

    # -- Pipelines and promotions (docs/heroku.md §9) ---------------------------------------

    def pipeline_coupling(self, app: str) -> JSON:
        """The app's coupling: `pipeline{id,name}` and `stage`; NotFound when in no pipeline."""
        return self._call("GET", f"/apps/{_segment(app)}/pipeline-couplings")

    def pipeline_couplings(self, pipeline_id: str) -> list[JSON]:
        return self._list(f"/pipelines/{_segment(pipeline_id)}/pipeline-couplings")

    def promote(self, pipeline_id: str, source_app_id: str, release_id: str, target_id: str):
        """Start promoting release `release_id` of the source app to the target app (its slug
        is copied, not rebuilt). Never retried: a retry could promote twice."""
        body = {
            "pipeline": {"id": pipeline_id},
            "source": {"app": {"id": source_app_id}, "release": {"id": release_id}},
            "targets": [{"app": {"id": target_id}}],
        }
        return self._call("POST", "/pipeline-promotions", json=body)

    def promotion_targets(self, promotion_id: str) -> list[JSON]:
        return self._list(f"/pipeline-promotions/{_segment(promotion_id)}/promotion-targets")

    # -- Dynos ----------------------------------------------------------------------------

    def create_dyno(
        self,
        app: str,
        command: str,
        attach: bool = True,
        env: Mapping[str, str] | None = None,
        time_to_live: int | None = None,
        size: str | None = None,
    ) -> JSON:
        """Start a one-off dyno. Never retried: a retry could run the command twice."""
        body = {"command": command, "attach": attach, "env": env}
        body.update(time_to_live=time_to_live, size=size)
        body = {key: value for key, value in body.items() if value is not None}
        return self._call("POST", f"/apps/{_segment(app)}/dynos", json=body)

    def dyno(self, app: str, id_or_name: str) -> JSON:
        return self._call("GET", f"/apps/{_segment(app)}/dynos/{_segment(id_or_name)}")

    def stop_dyno(self, app: str, id_or_name: str) -> None:
        # Stopping twice is harmless, so this POST may be retried.
        path = f"/apps/{_segment(app)}/dynos/{_segment(id_or_name)}/actions/stop"
        self._call("POST", path, idempotent=True)

    def run_attached(
        self,
        app: str,
        command: str,
        on_output: Callable[[str], object],
        timeout: float,
        env: Mapping[str, str] | None = None,
        cancel_event: threading.Event | None = None,
    ) -> int:
        """Run `command` in a one-off dyno, stream its output, return its exit status.

        Each output line goes to `on_output` without its line ending. Raises DynoTimeout
        after `timeout` seconds, DynoCanceled soon after `cancel_event` is set, and
        NoExitStatus when the output ends without the exit status marker (dyno crashed,
        was killed, or the connection dropped): the caller cannot mistake those for success.
        In each of those cases the dyno has been stopped.
        """
        ttl = min(MAX_TIME_TO_LIVE, int(timeout) + 60)  # a backstop if this worker dies
        dyno = self.create_dyno(app, command + EXIT_ECHO, attach=True, env=env, time_to_live=ttl)
        try:
            return _Attachment(dyno, self._connect_timeout).run(on_output, timeout, cancel_event)
        except BaseException:
            self._stop_quietly(app, dyno)
            raise

    def _stop_quietly(self, app: str, dyno: JSON) -> None:
        """Stop a dyno we are giving up on; it may be gone already, which is fine."""
        try:
            self.stop_dyno(app, dyno["id"])
        except HerokuError as error:
            log.warning("Could not stop dyno %s: %s", dyno.get("name"), error)

    # -- Postgres backups (docs/heroku.md §4) --------------------------------------------------

    def capture_backup(
        self,
        app: str,
        poll_interval: float = 3,
        timeout: float = 3600,
        on_progress: Callable[[Backup], object] | None = None,
    ) -> Backup:
        """Back up the app's DATABASE_URL database and wait for it to finish.

        `on_progress` gets the Backup once it is created and after each poll. Returns the
        finished Backup: check `succeeded`. Raises BackupTimeout if it is still running after
        `timeout` seconds (it is left running: it does no harm).
        """
        addon_id = self._database_addon_id(app)
        self._call("GET", f"/client/v11/databases/{addon_id}", base=self.data_api_url)
        path = f"/client/v11/databases/{addon_id}/backups"
        backup = Backup.from_transfer(self._call("POST", path, base=self.data_api_url))
        if on_progress:
            on_progress(backup)
        return self._wait_for_backup(app, backup, poll_interval, timeout, on_progress)

    def restore_backup(
        self,
        app: str,
        backup_name: str,
        poll_interval: float = 3,
        timeout: float = 3600,
        on_progress: Callable[[Backup], object] | None = None,
    ) -> Backup:
        """Restore backup `backup_name` ("b012") of the app into its DATABASE_URL database, as
        `heroku pg:backups:restore b012 DATABASE_URL` does (docs/heroku.md §4.1), and wait.

        The backup must be one of the app's finished, succeeded backups. `on_progress` gets
        the restore (a transfer too) once started and after each poll. Raises RestoreFailed
        when Heroku says it failed, BackupTimeout when it still runs after `timeout` seconds.
        """
        addon_id = self._database_addon_id(app)
        backup = self.find_backup(app, backup_name)
        body = {"backup_url": backup.transfer["to_url"]}
        path = f"/client/v11/databases/{addon_id}/restores"
        restore = Backup.from_transfer(self._call("POST", path, json=body, base=self.data_api_url))
        if on_progress:
            on_progress(restore)
        restore = self._wait_for_backup(app, restore, poll_interval, timeout, on_progress)
        if not restore.succeeded:
            raise RestoreFailed(self._restore_failure(app, backup_name, restore))
        return restore

    def find_backup(self, app: str, name: str) -> Backup:
        """The app's finished, succeeded backup `name` ("b012"), as `pg:backups:restore` looks
        it up; NotFound (expired, or never made) or InvalidParams (it failed) otherwise."""
        path = f"/client/v11/apps/{_segment(app)}/transfers"
        transfers = self._call("GET", path, base=self.data_api_url) or []
        backups = [
            Backup.from_transfer(t)
            for t in transfers
            if t.get("from_type") == "pg_dump" and t.get("to_type") == "gof3r"
        ]
        found = next((b for b in backups if b.name == name), None)
        if found is None:
            raise NotFound(f"Backup {name} was not found for {app}: it may have expired.")
        if not found.succeeded:
            raise InvalidParams(f"Backup {name} of {app} did not complete successfully.")
        return found

    def _restore_failure(self, app, backup_name, restore) -> str:
        path = f"/client/v11/apps/{_segment(app)}/transfers/{_segment(restore.uuid)}?verbose=true"
        try:
            logs = self._call("GET", path, base=self.data_api_url).get("logs") or []
        except HerokuError:
            logs = []
        said = " ".join(str(entry.get("message", "")) for entry in logs[-5:]).strip()
        return f"The restore of {backup_name} failed on Heroku" + (f": {said}" if said else ".")

    def backup(self, app: str, uuid: str) -> Backup:
        path = f"/client/v11/apps/{_segment(app)}/transfers/{_segment(uuid)}"
        return Backup.from_transfer(self._call("GET", path, base=self.data_api_url))

    def _database_addon_id(self, app: str) -> str:
        body = {"addon_attachment": "DATABASE_URL", "app": app}
        # A lookup despite the POST, so retrying it is safe.
        found = self._call("POST", "/actions/addon-attachments/resolve", json=body, idempotent=True)
        if not found:
            raise NotFound("This app has no database attached as DATABASE_URL.")
        return _segment(found[0]["addon"]["id"])

    def _wait_for_backup(self, app, backup, poll_interval, timeout, on_progress) -> Backup:
        deadline = time.monotonic() + timeout
        while not backup.finished_at:
            if time.monotonic() + poll_interval > deadline:
                raise BackupTimeout(f"Backup {backup.name} did not finish within {timeout:g}s.")
            time.sleep(poll_interval)
            backup = self.backup(app, backup.uuid)
            if on_progress:
                on_progress(backup)
        return backup

    # -- HTTP -----------------------------------------------------------------------------

    @property
    def _connect_timeout(self) -> float:
        return self.timeout[0] if isinstance(self.timeout, tuple) else self.timeout

    def _call(self, method, path, *, json=None, idempotent=None, base=None) -> Any:
        """One API call; the JSON body of the answer (None when empty)."""
        if idempotent is None:
            idempotent = method == "GET"
        url = (base or self.api_url) + path
        return _body(self._request(method, url, idempotent, json=json))

    def _list(self, path: str, first_range: str | None = None, limit=None) -> list[JSON]:
        items: list[JSON] = []
        for page in self._pages(self.api_url + path, first_range):
            items.extend(page)
            if limit is not None and len(items) >= limit:
                return items[:limit]
        return items

    def _pages(self, url: str, next_range: str | None) -> Iterator[list[JSON]]:
        """Follow 206 Partial Content answers along their Next-Range (docs/heroku.md §1.4)."""
        seen = set()
        while True:
            headers = {"Range": next_range} if next_range else None
            response = self._request("GET", url, True, headers=headers)
            yield _body(response)
            next_range = response.headers.get("Next-Range")
            if response.status_code != 206 or not next_range or next_range in seen:
                return
            seen.add(next_range)
            log.debug("Heroku list %s: got %s", url, response.headers.get("Content-Range"))

    def _request(self, method, url, idempotent, **kwargs) -> requests.Response:
        attempt = 0
        while True:
            try:
                return self._attempt(method, url, **kwargs)
            except (RateLimited, Unavailable) as error:
                wait = self._wait_before_retry(error, attempt)
                if not idempotent or attempt >= self.retries or wait is None:
                    raise
                log.info("Heroku %s %s: %s Retrying in %.1fs.", method, url, error, wait)
            time.sleep(wait)
            attempt += 1

    def _wait_before_retry(self, error: HerokuError, attempt: int) -> float | None:
        """Seconds to wait before retrying, None when Heroku asks for longer than max_wait."""
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return retry_after if retry_after <= self.max_wait else None
        # Jitter spreads apart the retries of concurrent deploys; not security-relevant.
        jitter = 0.5 + random.random() / 2  # noqa: S311
        return min(self.max_wait, self.backoff * 2**attempt * jitter)

    def _attempt(self, method, url, **kwargs) -> requests.Response:
        started = time.monotonic()
        response = self._send(method, url, **kwargs)
        took = time.monotonic() - started
        log.debug("Heroku %s %s -> %s (%.2fs)", method, url, response.status_code, took)
        if response.status_code >= 400:
            raise _error_for(response)
        return response

    def _send(self, method, url, **kwargs) -> requests.Response:
        try:
            return self._session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            reason = _network_reason(exc, self.timeout)
        # Raised outside the except block so the requests exception, which holds the
        # prepared request and its Authorization header, is not chained as __context__.
        host = urlsplit(url).netloc
        raise Unavailable(f"Heroku could not be reached ({host}): {reason}.")


def _headers(api_key: str) -> dict[str, str]:
    api_key = (api_key or "").strip()  # pasted keys often carry a newline
    if not api_key or not api_key.isascii() or not api_key.isprintable() or " " in api_key:
        # requests would put the whole header value, key included, in its error message.
        raise Unauthorized("This Heroku API key is malformed; paste it again.")
    return {
        "Authorization": f"Bearer {api_key}",
        "Accept": ACCEPT,
        "User-Agent": USER_AGENT,
    }


def _body(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise HerokuError("Heroku sent an answer herokucd could not read.") from None


def _error_for(response: requests.Response) -> HerokuError:
    """The typed error for a 4xx/5xx answer, in Heroku's own words when it gave some."""
    body, status = _error_body(response), response.status_code
    message = body.get("message")
    fields = {"id": body.get("id"), "status": status, "url": body.get("url")}
    fields["request_id"] = response.headers.get("Request-Id")
    if status >= 500:
        reason = f"it answered {status} {response.reason or ''}".strip()
        message = f"Heroku could not be reached: {reason}." + (f" {message}" if message else "")
        return Unavailable(message, **fields)
    if status == 429:
        return RateLimited(message, retry_after=_retry_after(response), **fields)
    return ERRORS_BY_STATUS.get(status, HerokuError)(message, **fields)


def _stream_error(status: int) -> HerokuError:
    if status == 404:
        return NotFound("The release command has not started yet.", status=status)
    return Unavailable(f"Heroku's release output stream answered {status}.", status=status)


def _error_body(response: requests.Response) -> dict:
    """Heroku's {"id", "message", "url"}, or {} when a proxy answered with something else."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(response: requests.Response) -> float | None:
    """Retry-After in seconds; it may be a number or an HTTP date."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _network_reason(exc: requests.RequestException, timeout) -> str:
    """Why a request got no answer, in plain words and without the request's details."""
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    if isinstance(exc, requests.ConnectTimeout):
        return f"the connection timed out after {connect:g}s"
    if isinstance(exc, requests.Timeout):
        return f"it did not answer in time (waited {read:g}s)"
    if isinstance(exc, requests.exceptions.SSLError):
        return "the secure connection failed (certificate or TLS problem)"
    causes = list(_causes(exc))
    if any(isinstance(cause, ConnectionRefusedError) for cause in causes):
        return "the connection was refused"
    if any(isinstance(cause, socket.gaierror) for cause in causes):
        return "its host name could not be resolved"
    if isinstance(exc, requests.ConnectionError):
        return "the connection failed"
    return "the request could not be sent"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and the chain behind it, as far as urllib3 keeps it."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        stack += [arg for arg in current.args if isinstance(arg, BaseException)]


# -- Rendezvous (docs/heroku.md §2.7) --------------------------------


class _Attachment:
    """The TLS stream of one attached dyno: handshake, output lines, exit status."""

    def __init__(self, dyno: JSON, connect_timeout: float):
        self.dyno = dyno
        self.connect_timeout = connect_timeout
        self.name = dyno.get("name") or dyno.get("id")

    def run(self, on_output, timeout: float, cancel_event) -> int:
        deadline = time.monotonic() + timeout
        lines = _OutputLines(on_output)
        with self._connect() as sock:
            self._pump(sock, lines, deadline, timeout, cancel_event)
        lines.close()
        if lines.exit_status is None:
            message = f"Dyno {self.name} ended without reporting an exit status."
            raise NoExitStatus(message, dyno=self.name)
        return lines.exit_status

    def _connect(self) -> ssl.SSLSocket:
        url = urlsplit(self.dyno.get("attach_url") or "")
        if not url.hostname:
            raise HerokuError("Heroku did not give an attach URL for the one-off dyno.")
        secret = url.path.lstrip("/") + (f"?{url.query}" if url.query else "")
        context = ssl.create_default_context(cafile=_setting("HEROKU_RENDEZVOUS_CA", None))
        address = (url.hostname, url.port or 5000)
        try:
            raw = socket.create_connection(address, self.connect_timeout)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
        else:
            return self._handshake(raw, context, url.hostname, secret)
        raise Unavailable(f"Heroku could not be reached ({address[0]}:{address[1]}): {reason}.")

    def _handshake(self, raw, context, hostname, secret) -> ssl.SSLSocket:
        try:
            sock = context.wrap_socket(raw, server_hostname=hostname)
            sock.sendall(secret.encode() + b"\r\n")
            return sock
        except OSError as exc:  # ssl.SSLError is an OSError
            raw.close()
            reason = getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
        raise Unavailable(f"Heroku could not be reached ({hostname}): TLS failed: {reason}.")

    def _pump(self, sock, lines, deadline, timeout, cancel_event) -> None:
        """Feed output to `lines` until the dyno closes the stream."""
        greeting_pending = True  # the first chunk is rendezvous' greeting, not output
        while (data := self._receive(sock, deadline, timeout, cancel_event)) != b"":
            if data and greeting_pending:
                greeting_pending = False
            elif data:
                lines.feed(data)

    def _receive(self, sock, deadline, timeout, cancel_event) -> bytes | None:
        """Up to one chunk: b"" at the end of the stream, None when nothing came yet."""
        if cancel_event is not None and cancel_event.is_set():
            message = f"The run was canceled; herokucd stopped dyno {self.name}."
            raise DynoCanceled(message, dyno=self.name)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            message = f"Dyno {self.name} did not finish within {timeout:g}s; herokucd stopped it."
            raise DynoTimeout(message, dyno=self.name)
        sock.settimeout(min(POLL_TICK, remaining))
        try:
            return sock.recv(65536)
        except TimeoutError:
            return None
        except OSError:
            return b""  # a reset or a TLS close without notify: the stream is over


class _OutputLines:
    """Turns received bytes into whole lines and pulls the exit status marker out."""

    def __init__(self, on_output: Callable[[str], object]):
        self.on_output = on_output
        self.exit_status: int | None = None
        self._decoder = LineDecoder()

    def feed(self, data: bytes) -> None:
        for line in self._decoder.feed(data):
            self._emit(line)

    def close(self) -> None:
        for line in self._decoder.close():
            self._emit(line)

    def _emit(self, line: str) -> None:
        line = line.rstrip("\r")
        # Output without a final newline shares its line with the marker.
        output, marker, status = line.partition(EXIT_MARKER)
        if marker and status.strip().isdigit():
            self.exit_status = int(status.strip())
            if output:
                self.on_output(output)
        else:
            self.on_output(line)
