"""Django's Redis cache backend, keeping one Redis client per connection pool.

Django's client makes a new `redis.Redis` for every cache call; redis-py 8 builds an event
dispatcher for each one, which costs more than the round trip to Redis. Sessions are read from
this cache on every signed-in page, so the client is made once per process instead (a client is
safe to share between threads, and its pool starts over after a fork).
"""

from django.core.cache.backends import redis


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


class RedisCache(redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient
