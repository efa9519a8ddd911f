"""Deploying with Heroku's Build API (README: Deploy with: git push or Build API).

The commit leaves the project's mirror as `git archive` (no working copy, no history: a shallow
mirror is enough), is uploaded to the put URL Heroku gives (`POST /sources`), and Heroku builds
it (`POST /apps/{app}/builds`); the build's output is followed into the deploy's log. Facts:
docs/heroku.md §6.4.

Where the worker sends the tarball and reads the output from is Heroku's answer, not a setting:
those URLs are accepted only on Heroku's own hosts (`HEROKU_HOSTS`: source blobs live on S3,
build output on build-output.heroku.com) or on the host of HEROKU_API_URL itself (a local Heroku
such as the simulator), https unless it is that configured host; the call then goes through
herokucd.http's policy like any other. The URLs are capabilities (presigned): they are redacted
from the log, and herokucd's API key is never sent to them.
"""

import contextlib
import hashlib
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from deploys import mirror, runners
from herokucd import http
from herokucd.lines import LineDecoder

# Heroku's source blobs are presigned S3 URLs; build output streams from build-output.heroku.com.
HEROKU_HOSTS = ("amazonaws.com", "heroku.com")
UPLOAD_TIMEOUT = 900
ARCHIVE_TIMEOUT = 600
STREAM_IDLE_TIMEOUT = 60
KEPT_LINES = 80


class Refused(Exception):
    """Heroku's answer, or the upload, cannot be used; str() says why in the user's words."""


@dataclass
class Archive:
    path: Path
    size: int
    checksum: str  # "SHA256:<hex>", as the build's source_blob.checksum wants it


@contextlib.contextmanager
def archive(project, sha):
    """The commit's tree as a gzipped tarball, made by `git archive` straight from the mirror
    (no checkout, no history), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="herokucd-source-") as folder:
        path = Path(folder) / "source.tar.gz"
        with mirror.locked(project) as repository:
            runners.git(
                "archive",
                "--format=tar.gz",
                f"--output={path}",
                sha,
                cwd=repository,
                timeout=ARCHIVE_TIMEOUT,
            )
        with path.open("rb") as data:
            digest = hashlib.file_digest(data, "sha256").hexdigest()
        yield Archive(path, path.stat().st_size, f"SHA256:{digest}")


def check_url(url: str, what: str) -> None:
    """Refused unless `url` is on one of Heroku's hosts over https, or on the configured
    HEROKU_API_URL's own host and scheme (a local Heroku)."""
    parts = urlsplit(url or "")
    api = urlsplit(settings.HEROKU_API_URL)
    host = (parts.hostname or "").lower()
    if (parts.scheme, parts.netloc) == (api.scheme, api.netloc):
        return
    on_heroku = any(host == name or host.endswith(f".{name}") for name in HEROKU_HOSTS)
    if parts.scheme != "https" or not on_heroku:
        shown = f"{parts.scheme}://{host}" if host else "no host"
        raise Refused(
            f"{what} refused: Heroku's answer named {shown}, which is not one of Heroku's "
            f"hosts ({', '.join(HEROKU_HOSTS)}) nor the configured Heroku API."
        )


def upload(put_url: str, source: Archive) -> None:
    """PUT the tarball to Heroku's put URL, as the CLI's builds:create does (no Content-Type);
    Refused with the storage's own words when it says no."""
    check_url(put_url, "The upload")
    headers = {"Content-Type": "", "Content-Length": str(source.size)}
    try:
        with source.path.open("rb") as body:
            answer = http.request(
                "PUT",
                put_url,
                body=body,
                headers=headers,
                what="The upload",
                redirects=0,
                timeout=UPLOAD_TIMEOUT,
                max_bytes=16384,
            )
    except http.RequestFailed as error:
        raise Refused(f"The upload of the source to Heroku failed: {error}.") from None
    except http.Refused as refused:
        raise Refused(str(refused)) from None
    if answer.status >= 300:
        said = re.search(r"<Message>(.*?)</Message>", answer.text, re.S)
        words = f": {said[1].strip()[:300]}" if said else "."
        raise Refused(f"Heroku's source storage refused the upload ({answer.status}){words}")


class Output:
    """A build's output stream, read into the log as it arrives and resumed where it broke
    off (`Range: bytes=N-`, as the schema says to). Keeps the last lines, for the reason
    a failed build gives."""

    def __init__(self, url, writer):
        check_url(url, "Reading the build's output")
        self.url, self.writer = url, writer
        self.offset = 0
        self.finished = False  # the server said there is nothing more (416)
        self.last: list[str] = []
        self._decoder = LineDecoder()

    def read(self) -> None:
        """Read from where the last read stopped until the body ends or breaks off."""
        if self.finished:
            return
        headers = {"Range": f"bytes={self.offset}-"} if self.offset else None
        try:
            with http.stream(
                self.url,
                headers=headers,
                what="Reading the build's output",
                idle_timeout=STREAM_IDLE_TIMEOUT,
            ) as answer:
                if answer.status == 416:
                    self.finished = True
                    return
                if answer.status >= 300 or (self.offset and answer.status != 206):
                    return  # nothing usable now: the build's status still decides
                for chunk in answer.chunks():
                    self.offset += len(chunk)
                    self._show(self._decoder.feed(chunk))
        except (http.RequestFailed, http.Refused):
            return  # resumed by the next read

    def close(self) -> None:
        self._show(self._decoder.close())

    def _show(self, lines):
        if lines:
            self.writer.lines(lines)
            self.last = (self.last + lines)[-KEPT_LINES:]


def failure(build: dict, last_lines: list[str]) -> str:
    """Why Heroku's build failed, in its own words: the output's `!` lines."""
    said = runners.heroku_words(last_lines)
    version = (build.get("source_blob") or {}).get("version") or ""
    what = f"Heroku's build of commit {version[:7]}" if version else "Heroku's build"
    return f"{what} failed: " + (" ".join(said[:4]) if said else "see the build output above.")


def wait(seconds, cancel_event) -> bool:
    """Sleep, or return True early when the deploy is canceled."""
    if cancel_event is None:
        time.sleep(seconds)
        return False
    return cancel_event.wait(seconds)
