"""Models for what starts deploys from outside and who hears about them.

Webhook endpoints and the events they received, notification targets and their delivery
attempts, personal API tokens, and the ledger of git requests pushes made (Heroku's git rate
limit). Imported at the end of deploys/models.py so Django discovers them.
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from herokucd import http, siteurl
from herokucd.crypto import EncryptedTextField, mask
from projects.models import Environment, Project

__all__ = [
    "ApiToken",
    "GitRequest",
    "NotificationDelivery",
    "NotificationTarget",
    "Outcome",
    "RejectedDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]

# "Rotate secret" keeps the old secret valid this long, so CI can be updated.
PREVIOUS_SECRET_GRACE = timedelta(hours=24)


def new_secret() -> str:
    return secrets.token_hex(32)


def new_public_id() -> str:
    return secrets.token_urlsafe(18)


class WebhookEndpoint(models.Model):
    """The one URL of a project that CI systems call after a build."""

    project = models.OneToOneField(Project, models.CASCADE, related_name="webhook_endpoint")
    # In the URL instead of the slug: renaming a project must not break CI configuration.
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id)
    secret = EncryptedTextField()
    previous_secret = EncryptedTextField(blank=True)
    previous_valid_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    # GitLab sends its "Secret token" in clear in every request, so it is a token of its own,
    # never the signing secret; only its SHA-256 is stored, and its last characters to show.
    gitlab_token_hash = models.CharField(max_length=64, blank=True)
    gitlab_token_hint = models.CharField(max_length=4, blank=True)
    previous_gitlab_token_hash = models.CharField(max_length=64, blank=True)
    previous_gitlab_token_valid_until = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Webhook of {self.project}"

    def get_absolute_url(self):
        return reverse("webhook", args=[self.public_id])

    def url_for(self, request=None) -> str:
        """The URL to give CI: SITE_URL's, else the host and port `request` came to."""
        return siteurl.absolute(self.get_absolute_url(), request)

    @property
    def masked_secret(self):
        return mask(self.secret)

    def valid_secrets(self, now=None) -> list[str]:
        now = now or timezone.now()
        valid = [self.secret]
        if self.previous_secret and self.previous_valid_until and self.previous_valid_until > now:
            valid.append(self.previous_secret)
        return valid

    def rotate(self) -> str:
        self.previous_secret = self.secret
        self.rotated_at = timezone.now()
        self.previous_valid_until = self.rotated_at + PREVIOUS_SECRET_GRACE
        self.secret = new_secret()
        self.save()
        return self.secret

    @property
    def replay_window_minutes(self):
        return settings.WEBHOOK_REPLAY_WINDOW // 60

    @property
    def masked_gitlab_token(self):
        return "••••••••" + self.gitlab_token_hint if self.gitlab_token_hash else ""

    def valid_gitlab_token_hashes(self, now=None) -> list[str]:
        now = now or timezone.now()
        valid = [self.gitlab_token_hash] if self.gitlab_token_hash else []
        until = self.previous_gitlab_token_valid_until
        if self.previous_gitlab_token_hash and until and until > now:
            valid.append(self.previous_gitlab_token_hash)
        return valid

    def new_gitlab_token(self) -> str:
        """Create or replace the GitLab token (a replaced one keeps working for 24 hours);
        the plain value is returned once and never stored."""
        if self.gitlab_token_hash:
            self.previous_gitlab_token_hash = self.gitlab_token_hash
            self.previous_gitlab_token_valid_until = timezone.now() + PREVIOUS_SECRET_GRACE
        token = new_secret()
        self.gitlab_token_hash, self.gitlab_token_hint = hash_token(token), token[-4:]
        self.save()
        return token


class Outcome(models.TextChoices):
    DEPLOYED = "deployed", "Deployed"
    NO_DEPLOY = "no_deploy", "No deploy"
    HELD = "held", "Held"  # a lock or freeze window (deploys/gates.py): deployable later
    IGNORED = "ignored", "Ignored"


class WebhookEvent(models.Model):
    """One delivery a CI sent us and what herokucd did about it."""

    rejected = False  # the Triggers page lists these and RejectedDelivery rows in one table

    endpoint = models.ForeignKey(WebhookEndpoint, models.CASCADE, related_name="events")
    delivery_id = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=20)  # github, circleci, gitlab, generic
    event = models.CharField(max_length=100, blank=True)
    branch = models.CharField(max_length=255, blank=True)
    sha = models.CharField(max_length=40, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.CharField(max_length=500, blank=True)
    environment = models.ForeignKey(
        Environment, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    deploy = models.ForeignKey(
        "deploys.Deploy", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    status = models.PositiveSmallIntegerField(default=202)  # the HTTP status answered
    source_address = models.CharField(max_length=45, blank=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        constraints = [
            # A delivery seen before is a replay (CI retries): it must create nothing.
            models.UniqueConstraint(
                fields=["endpoint", "delivery_id"],
                condition=~Q(delivery_id=""),
                name="unique_webhook_delivery",
            )
        ]

    def __str__(self):
        return f"{self.provider} {self.event} {self.branch} {self.outcome}"

    @property
    def short_sha(self):
        return self.sha[:7]


class RejectedDelivery(models.Model):
    """A delivery that recorded no event: refused (401 signature or token, 400 malformed or stale),
    not queued (503), or a repeat of a delivery id already received (200).

    Mostly unauthenticated input, so only what herokucd itself says about it and a few header
    values, cut short: never the body, a signature or a token. The newest KEEP per webhook are
    kept (webhooks.record_rejected prunes on insert), so a flood cannot grow the database.
    """

    KEEP = 100
    rejected = True

    endpoint = models.ForeignKey(
        WebhookEndpoint, models.CASCADE, related_name="rejected_deliveries"
    )
    received_at = models.DateTimeField(auto_now_add=True)
    status = models.PositiveSmallIntegerField()  # the HTTP status answered
    provider = models.CharField(max_length=20)  # from the headers: github, circleci, ...
    event = models.CharField(max_length=100, blank=True)  # the event header, as sent
    delivery_id = models.CharField(max_length=200, blank=True)  # from the headers only
    source_address = models.CharField(max_length=45, blank=True)
    reason = models.CharField(max_length=500)  # in the user's words, with what to do

    class Meta:
        ordering = ["-received_at", "-pk"]
        indexes = [models.Index(fields=["endpoint", "id"], name="rejected_delivery_prune")]

    def __str__(self):
        return f"{self.provider} {self.event} {self.status}"


class NotificationTarget(models.Model):
    """Where to tell people that a deploy of an environment finished."""

    EMAIL, WEBHOOK = "email", "webhook"
    KINDS = [(EMAIL, "Email"), (WEBHOOK, "Webhook")]

    environment = models.ForeignKey(
        Environment, models.CASCADE, related_name="notification_targets"
    )
    kind = models.CharField(max_length=10, choices=KINDS)
    # Encrypted: a webhook URL often is the credential (Slack's incoming webhook URLs are).
    address = EncryptedTextField(help_text="An email address or an https:// URL.")
    slack_format = models.BooleanField(
        "Slack-compatible message",
        default=False,
        help_text='Send the body a Slack incoming webhook expects ({"text": ...}).',
    )
    secret = EncryptedTextField(blank=True)  # signs outgoing webhooks
    on_failed = models.BooleanField("Deploy failed", default=True)
    on_succeeded = models.BooleanField("Deploy succeeded", default=False)
    on_recovered = models.BooleanField("Recovered (success after a failure)", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The address the dashboard was reached at by the admin who added this target: the links its
    # messages carry when SITE_URL is unset (a worker has no request to read it from).
    dashboard_url = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["environment__position", "pk"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.shown_address}"

    def wants(self, event: str) -> bool:
        return {
            "failed": self.on_failed,
            "succeeded": self.on_succeeded,
            "recovered": self.on_recovered or self.on_succeeded,
        }.get(event, False)

    @property
    def masked_secret(self):
        return mask(self.secret)

    @property
    def shown_address(self):
        """An email address in full; of a URL only the host and the last characters (a user's
        password shown as ••••)."""
        if self.kind == self.EMAIL:
            return self.address
        scheme, _, rest = http.masked(self.address).partition("://")
        host, _, path = rest.partition("/")
        return f"{scheme}://{host}/{mask(path)}" if path else f"{scheme}://{host}"


class NotificationDelivery(models.Model):
    """One attempt to deliver one notification; retries add rows."""

    PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
    STATUSES = [(PENDING, "Pending"), (DELIVERED, "Delivered"), (FAILED, "Failed")]

    target = models.ForeignKey(NotificationTarget, models.CASCADE, related_name="deliveries")
    deploy = models.ForeignKey("deploys.Deploy", models.CASCADE, related_name="+")
    event = models.CharField(max_length=10)  # failed, succeeded, recovered
    attempt = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    attempted_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-attempted_at", "-pk"]

    def __str__(self):
        return f"{self.target} #{self.attempt} {self.status}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(models.Model):
    """A personal token for the JSON API; only its SHA-256 is stored."""

    PREFIX = "hcd_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)  # the first characters, to tell tokens apart
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, user, name) -> tuple["ApiToken", str]:
        """Create a token; the plain value is returned once and never stored."""
        value = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user, name=name, token_hash=hash_token(value), prefix=value[:10]
        )
        return token, value

    @classmethod
    def find(cls, value: str):
        return cls.objects.select_related("user").filter(token_hash=hash_token(value)).first()


class GitRequest(models.Model):
    """Git requests one push made to one Heroku app with one key (Heroku counts 75 an hour).

    In the database so every worker on every host shares the ledger.
    """

    key_hash = models.CharField(max_length=64)  # HerokuCredential.key_hash: never the key
    app_name = models.CharField(max_length=30)
    requests = models.PositiveIntegerField(default=2)
    made_at = models.DateTimeField(default=timezone.now)
    # Set when Heroku answered 429: no push to this key and app before this time.
    retry_at = models.DateTimeField(null=True, blank=True)
    deploy = models.ForeignKey(
        "deploys.Deploy", models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["made_at"]
        indexes = [models.Index(fields=["key_hash", "app_name", "made_at"])]

    def __str__(self):
        return f"{self.requests} git requests to {self.app_name} at {self.made_at:%H:%M:%S}"
