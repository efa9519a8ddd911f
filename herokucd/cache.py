"""Django's Redis cache backend, made cheaper per call and tolerant of Redis being away.

- One Redis client per connection pool: Django's client makes a new `redis.Redis` for every cache
  call, and redis-py 8 builds an event dispatcher for each one, which costs more than the round
  trip to Redis. Sessions are read from this cache on every signed-in page (`cached_db`), so the
  client is made once per process (a client is safe to share between threads, and its pool
  starts over after a fork).
- Redis unreachable: a read is a miss and a write is skipped, so sessions come from the database
  and pages still work. A delete that cannot reach Redis still fails: a session signed out while
  Redis was away must not come back with it.
"""

import logging

import redis as redis_py
from django.core.cache.backends import redis

log = logging.getLogger(__name__)


class RedisCacheClient(redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            pool = self._get_connection_pool(write)
            client = self._clients[index] = self._client(connection_pool=pool)
        return client

    def get(self, key, default):
        return _or(default, super().get, key, default)

    def get_many(self, keys):
        return _or({}, super().get_many, keys)

    def has_key(self, key):
        return _or(False, super().has_key, key)

    def set(self, key, value, timeout):
        _or(None, super().set, key, value, timeout)

    def add(self, key, value, timeout):
        return _or(False, super().add, key, value, timeout)

    def set_many(self, data, timeout):
        _or(None, super().set_many, data, timeout)


def _or(fallback, call, *args):
    try:
        return call(*args)
    except (redis_py.ConnectionError, redis_py.TimeoutError) as error:
        log.warning("Redis unreachable, cache call skipped: %s", error)
        return fallback


class RedisCache(redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient
