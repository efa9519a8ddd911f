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


def of_request(request) -> str:
    """The address this request reached the dashboard at (SITE_URL aside), without a trailing
    slash: its Host was checked against ALLOWED_HOSTS."""
    return request.build_absolute_uri("/").rstrip("/")
