"""The address a request came from, as the sign-in lockout (django-axes) counts it."""

from django.conf import settings


def client_ip(request) -> str:
    """REMOTE_ADDR; behind `TRUSTED_PROXY_COUNT` proxies, the address the outermost of them saw.

    Each proxy appends the address it received from to X-Forwarded-For, so with N trusted proxies
    the Nth entry from the right is the client's: entries left of it are whatever the client
    itself sent, which is why the count must match the real number of proxies (a forged entry
    further left is never read).
    """
    count = settings.TRUSTED_PROXY_COUNT
    remote = request.META.get("REMOTE_ADDR", "")
    if count <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    return forwarded[-count] if len(forwarded) >= count else remote
