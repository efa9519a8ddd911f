"""What Django's error reports (the technical 500 page under DEBUG, the error e-mails) may show.

Django's own filter hides settings whose names say KEY, TOKEN, PASS...; the connection URLs are
not named so (REDIS_URL, DATABASE_URL, EMAIL_URL, a cache's LOCATION) and carry a password, and
the development server copies the environment into `request.META`, where the report lists them.
"""

import re

from django.views.debug import SafeExceptionReporterFilter

# user:password@ in any URL-like text: the password part is replaced, the user is kept.
URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/:@\s]*:)[^@\s]*(?=@)", re.IGNORECASE)


def hide_url_password(text: str) -> str:
    return URL_PASSWORD.sub(
        lambda m: m["head"] + SafeExceptionReporterFilter.cleansed_substitute, text
    )


class SettingsFilter(SafeExceptionReporterFilter):
    """Also hides connection URLs and locations by name, and URL passwords wherever they are."""

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|URL|DSN|LOCATION", flags=re.IGNORECASE
    )

    def cleanse_setting(self, key, value):
        value = super().cleanse_setting(key, value)
        # Exactly str: lazy objects that pass for strings are left as Django shows them.
        return hide_url_password(value) if type(value) is str else value
