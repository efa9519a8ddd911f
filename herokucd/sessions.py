"""Sessions read from the cache (Redis), written through to the database: Django's `cached_db`,
forgetting a session in the cache before the database.

Django deletes the database row first; when Redis is unreachable the cache delete then fails and
leaves a copy that Redis would serve again once back, signing the person in again. Deleting from
the cache first makes a sign-out that cannot reach Redis fail whole: still signed in, told so,
never half signed out.
"""

from django.contrib.sessions.backends import cached_db


class SessionStore(cached_db.SessionStore):
    def delete(self, session_key=None):
        key = session_key or self.session_key
        if key is not None:
            self._cache.delete(self.cache_key_prefix + key)
        super().delete(session_key)
