"""How many live-log requests of this process may wait for lines at once, in all and per user.

A waiting long poll holds one of the server's threads for up to 20 s: without a bound, a few
viewers (or one user's script) would hold them all and every other page would queue behind
them. Past either bound a poll is answered at once with 429 and Retry-After, and the page polls
again a moment later; the thread is free for other pages meanwhile."""

import threading
from collections import Counter
from contextlib import contextmanager

from django.conf import settings

_lock = threading.Lock()
_waiting: Counter = Counter()  # user id -> requests of this process waiting now
RETRY_AFTER_SECONDS = 2


@contextmanager
def wait_slot(user_id: int):
    """Yields whether this request may wait; a slot taken is given back on leaving."""
    with _lock:
        allowed = (
            _waiting.total() < settings.LOG_WAIT_MAX_PER_PROCESS
            and _waiting[user_id] < settings.LOG_WAIT_MAX_PER_USER
        )
        if allowed:
            _waiting[user_id] += 1
    try:
        yield allowed
    finally:
        if allowed:
            with _lock:
                _waiting[user_id] -= 1
                if not _waiting[user_id]:
                    del _waiting[user_id]
