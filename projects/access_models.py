"""Who gets into the installation: the first administrator's setup token and invitations.

Both keep only a SHA-256 of their token: the token itself is shown once (printed to the console
or log, or as the invitation link) and a copy of the database does not let anyone in.
"""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


def new_token() -> tuple[str, str]:
    """A random token and its hash, the only part that is stored."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    # 256 random bits need no slow hash: nobody can guess one to compare with.
    return hashlib.sha256(token.encode()).hexdigest()


class SetupToken(models.Model):
    """The one-time token that lets the first administrator be created (at most one row)."""

    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"Setup token made {self.created_at:%Y-%m-%d %H:%M}"


class PendingInvitations(models.QuerySet):
    def pending(self):
        return self.filter(used_at=None, revoked_at=None, expires_at__gt=timezone.now())


class Invitation(models.Model):
    """A link an administrator sends: whoever opens it first chooses a username and password."""

    token_hash = models.CharField(max_length=64, unique=True)
    email = models.EmailField(blank=True, help_text="Optional: filled in for the new user.")
    may_create_projects = models.BooleanField(
        default=False, help_text="The new user may create projects (and so be their admin)."
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = PendingInvitations.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"Invitation {self.email or self.pk} until {self.expires_at:%Y-%m-%d %H:%M}"
