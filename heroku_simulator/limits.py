"""Rate limits: the API token bucket per account and the git rolling window."""

import threading
import time
from collections import defaultdict, deque


class TokenBuckets:
    """4500 tokens per account refilling 75 a minute (docs/heroku.md §1.3)."""

    def __init__(self, capacity, per_minute):
        self.capacity = capacity
        self.per_second = per_minute / 60.0
        self._buckets = {}
        self._lock = threading.Lock()

    def _level(self, account_id, now):
        tokens, stamp = self._buckets.get(account_id, (self.capacity, now))
        return min(self.capacity, tokens + (now - stamp) * self.per_second)

    def take(self, account_id):
        """Use one token; return (allowed, remaining)."""
        with self._lock:
            now = time.monotonic()
            tokens = self._level(account_id, now)
            allowed = tokens >= 1
            tokens = tokens - 1 if allowed else tokens
            self._buckets[account_id] = (tokens, now)
            return allowed, int(tokens)

    def remaining(self, account_id):
        with self._lock:
            return int(self._level(account_id, time.monotonic()))


class RollingWindow:
    """At most `requests` per `window_seconds` per key (git: per account and app)."""

    def __init__(self, requests, window_seconds):
        self.requests = requests
        self.window = window_seconds
        self._hits = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, key):
        with self._lock:
            now = time.monotonic()
            hits = self._hits[key]
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.requests:
                return False
            hits.append(now)
            return True
