"""Absolute URLs of the dashboard's pages.

SITE_URL when the operator set it (the public address, whatever proxy is in between); otherwise
the scheme, host and port the request came to (Host checked against ALLOWED_HOSTS, forwarded
headers only with USE_X_FORWARDED_HOST/_PORT); without a request (a worker sending a
notification), the address stored for that purpose, else the bare path.
"""

from django.conf import settings


def absolute(path: str, request=None, fallback: str = "") -> str:
    if settings.SITE_URL:
        return settings.SITE_URL + path
    if request is not None:
        return request.build_absolute_uri(path)
    return fallback.rstrip("/") + path


def base(request) -> str:
    """The dashboard's address as this request reached it, without a trailing slash."""
    return absolute("/", request).rstrip("/")
