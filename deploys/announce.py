"""The log writer's word to the web processes that a chunk of a deploy's log is stored.

Only the range of line numbers goes through Redis (pub/sub, channel `channel(deploy_id)`), never
the lines: a web process that watches the deploy reads the chunk once from the database for all
its viewers (deploys/stream.py). Redis down costs nothing but speed: the web processes also look
at the deploy's line count every tick, and after a failed publish this process stays quiet for
QUIET_AFTER_FAILURE seconds rather than wait on Redis with every chunk.
"""

import logging
import threading
import time

import redis
from django.conf import settings

log = logging.getLogger(__name__)
QUIET_AFTER_FAILURE = 5.0
_lock = threading.Lock()
_state = {"connection": None, "failed_at": -QUIET_AFTER_FAILURE}


def channel(deploy_id: int) -> str:
    return f"herokucd:log:{deploy_id}"


def _connection() -> redis.Redis:
    with _lock:
        if _state["connection"] is None:
            _state["connection"] = redis.Redis.from_url(
                settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1
            )
        return _state["connection"]


def chunk_stored(deploy_id: int, first: int, last: int, rewritten: int | None = None) -> None:
    """Lines `first`..`last` of the deploy are in the database now; `rewritten`: the first line
    stored before that a secret was cut out of meanwhile (the watches forget what they read)."""
    if time.monotonic() - _state["failed_at"] < QUIET_AFTER_FAILURE:
        return
    message = f"{first} {last}" + (f" {rewritten}" if rewritten is not None else "")
    try:
        _connection().publish(channel(deploy_id), message)
    except redis.RedisError as error:
        _state["failed_at"] = time.monotonic()
        log.info("Could not announce log lines of deploy %s: %s", deploy_id, error)
