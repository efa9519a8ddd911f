from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from herokucd import git, http
from herokucd.crypto import EncryptedTextField, mask
from projects import branches


class Role(models.TextChoices):
    """What a member may do, from least to most; each role includes the ones before it."""

    VIEWER = "viewer", "Viewer"
    DEPLOYER = "deployer", "Deployer"
    ADMIN = "admin", "Admin"

    @classmethod
    def rank(cls, role) -> int:
        return list(cls.values).index(role)


class Project(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50, unique=True)
    # The git URL without its user info (user and token): that is kept apart, encrypted, and
    # given to git through its environment, so no page, log or git config shows it.
    repository_url = models.CharField(
        "Repository",
        max_length=500,
        help_text="The repository's https or ssh git URL.",
    )
    repository_userinfo = EncryptedTextField(blank=True)
    default_branch = models.CharField(max_length=255, default="main")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="projects"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("project", args=[self.slug])

    @property
    def shown_repository_url(self) -> str:
        """The URL as pages show it: the user name kept, the password or token masked."""
        return git.masked(self.repository_url, self.repository_userinfo)


class Membership(models.Model):
    project = models.ForeignKey(Project, models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user__username"]
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")
        ]

    def __str__(self):
        return f"{self.user} ({self.role}) in {self.project}"

    def allows(self, role) -> bool:
        return Role.rank(self.role) >= Role.rank(role)

    @property
    def can_deploy(self):
        return self.allows(Role.DEPLOYER)

    @property
    def is_admin(self):
        return self.allows(Role.ADMIN)


class HerokuCredential(models.Model):
    """The Heroku API key a project deploys with (step 1 of the setup)."""

    project = models.OneToOneField(Project, models.CASCADE, related_name="heroku_credential")
    api_key = EncryptedTextField()
    # A keyed hash of the key, to find projects sharing it (they share Heroku's git rate limit).
    key_hash = models.CharField(max_length=64, db_index=True)
    account_email = models.EmailField()
    account_id = models.CharField(max_length=64)
    validated_at = models.DateTimeField()
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+"
    )

    def __str__(self):
        return f"Heroku key {self.masked_key} of {self.account_email}"

    @property
    def masked_key(self):
        return mask(self.api_key)


class GitHubToken(models.Model):
    """The GitHub token a project reports its deploys to GitHub with (deployment statuses,
    deploys/github.py): checked with GitHub when saved, stored encrypted, shown masked."""

    project = models.OneToOneField(Project, models.CASCADE, related_name="github_token")
    token = EncryptedTextField()
    login = models.CharField(max_length=100)  # the account GitHub said the token belongs to
    validated_at = models.DateTimeField()
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+"
    )

    def __str__(self):
        return f"GitHub token {self.masked_token} of {self.login}"

    @property
    def masked_token(self):
        return mask(self.token)


class DeployKey(models.Model):
    """The project's Heroku deploy user and the SSH key registered with that account (step 2)."""

    project = models.OneToOneField(Project, models.CASCADE, related_name="deploy_key")
    deploy_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+"
    )
    heroku_email = models.EmailField(blank=True)
    public_key = models.TextField(blank=True)
    private_key = EncryptedTextField(blank=True)
    fingerprint = models.CharField(max_length=100, blank=True)
    heroku_key_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"Deploy key {self.fingerprint} of {self.project}"


class MaintenanceMode(models.TextChoices):
    OFF = "off", "Off"
    # On before the push: the push releases the new code, which must not serve the database
    # before its migration ran (git push builds and releases in one go).
    MIGRATIONS = "migrations", "Deploys with a migration: from before the push until after it"
    DEPLOY = "deploy", "Every deploy: from before the push until after the migration"


class CommitOnHeroku(models.TextChoices):
    """What a deploy does when its push released nothing new or another commit is live."""

    FAIL = "fail", "Fail the deploy"
    RELEASE = "release", "Release it again"


class DeployMethod(models.TextChoices):
    """How a deploy gets the commit to Heroku (README: Deploy with: git push or Build API)."""

    GIT_PUSH = "git", "git push"
    BUILD_API = "build_api", "Build API"


class CacheFlush(models.TextChoices):
    NONE = "", "No cache flush"
    REDIS = "redis", "Redis (FLUSHDB)"
    MEMCACHED = "memcached", "Memcached (flush_all)"
    MEMCACHIER = "memcachier", "MemCachier (SASL)"
    MEMCACHEDCLOUD = "memcachedcloud", "Memcached Cloud (SASL)"


# The add-ons that only take SASL-authenticated clients, and the config var of their servers:
# the user name and password sit beside it, in NAME_USERNAME and NAME_PASSWORD (README: Cache
# flush add-ons; docs/heroku.md §9).
SASL_CACHES = {
    CacheFlush.MEMCACHIER: "MEMCACHIER_SERVERS",
    CacheFlush.MEMCACHEDCLOUD: "MEMCACHEDCLOUD_SERVERS",
}


class Environment(models.Model):
    """A deployment environment: which branches deploy to which Heroku app, and how (step 3)."""

    project = models.ForeignKey(Project, models.CASCADE, related_name="environments")
    name = models.CharField(max_length=50, help_text="For example staging or production.")
    branch = models.CharField(
        max_length=500,
        help_text="An exact branch name, a /regex/ (full match), or several names separated "
        "by commas.",
    )
    app_name = models.CharField("App name", max_length=30)
    # As Heroku reports it when the app was checked or deployed (never built from the name).
    web_url = models.URLField("Web URL", blank=True)
    # Which app, with which project key (its keyed hash), Heroku last confirmed reachable: a
    # deploy takes the app's lock only while both still match (deploys/jobs.py).
    app_checked_name = models.CharField(max_length=30, blank=True)
    app_checked_key_hash = models.CharField(max_length=64, blank=True)
    app_checked_at = models.DateTimeField(null=True, blank=True)
    # Settings order: when two environments match a branch, the first one wins.
    position = models.PositiveIntegerField(default=0)

    auto_deploy = models.BooleanField("Auto-deploy on green builds", default=True)
    heroku_branch = models.CharField(
        "Git ref on Heroku",
        max_length=6,
        choices=[("main", "main"), ("master", "master")],
        default="main",
    )
    force_push = models.BooleanField(default=False)
    deploy_method = models.CharField(
        "Deploy with",
        max_length=10,
        choices=DeployMethod.choices,
        default=DeployMethod.GIT_PUSH,
        help_text="git push sends the commit's history to Heroku's git repository (75 git "
        "requests per hour per app and key; a push uses 2). The Build API uploads a tarball of "
        "the commit alone and asks Heroku to build it: no history needed, nothing counted "
        "against the git limit.",
    )
    # Set from the name when the environment is made (production, prod, live: on).
    confirm_manual_deploys = models.BooleanField(
        "Manual deploys ask for confirmation",
        default=False,
        help_text="The Deploy button shows what will happen to the app and asks before it starts.",
    )
    maintenance_mode = models.CharField(
        max_length=12,
        choices=MaintenanceMode.choices,
        default=MaintenanceMode.OFF,
        help_text="Maintenance mode goes on before the push, because the push releases the "
        "new code at once: it never serves a database its migration has not reached yet. The "
        "app is in maintenance while Heroku builds, and until processes are scaled back.",
    )
    when_commit_on_heroku = models.CharField(
        "When Heroku already has the commit",
        max_length=8,
        choices=CommitOnHeroku.choices,
        default=CommitOnHeroku.FAIL,
        help_text="A push of a commit Heroku's git branch already has builds nothing, so "
        "another release may stay live (after a rollback, say). Fail the deploy before "
        "its migration, or release that commit's earlier build again.",
    )
    maintenance_page_url = models.URLField("Maintenance page URL", blank=True)
    keep_maintenance_after_failed_migration = models.BooleanField(default=False)
    scale_down_types = models.CharField(
        "Process types to scale to 0 during migrations",
        max_length=200,
        blank=True,
        help_text="Comma-separated, e.g. worker, clock.",
    )
    migration_command = models.CharField(max_length=500, blank=True)
    migration_timeout = models.PositiveIntegerField("Migration timeout (seconds)", default=400)
    backup_before_migrate = models.BooleanField("Back up Postgres before migrating", default=False)
    cache_flush = models.CharField(
        max_length=20, choices=CacheFlush.choices, default=CacheFlush.NONE, blank=True
    )
    cache_config_vars = models.CharField(
        "Cache URL config vars",
        max_length=200,
        blank=True,
        help_text="Comma-separated names of the app's config vars that hold the cache: a "
        "redis:// or rediss:// URL, or memcached servers (host:port, comma-separated). Beside a "
        "memcached NAME_SERVERS, NAME_USERNAME and NAME_PASSWORD are used for SASL. Left empty "
        "for MemCachier or Memcached Cloud: the add-on's own config vars.",
    )
    migration_globs = models.TextField(
        "Files that look like migrations",
        blank=True,
        help_text="One glob per line (for example db/migrate/*.rb); empty: the defaults for "
        "Django, Rails, Alembic, Prisma and Knex. The commits going out flag these files.",
    )
    pre_deploy_commands = models.TextField(blank=True, help_text="One command per line.")
    pre_deploy_timeout = models.PositiveIntegerField(default=600)
    post_deploy_commands = models.TextField(blank=True, help_text="One command per line.")
    post_deploy_timeout = models.PositiveIntegerField(default=600)
    secret_config_vars = models.CharField(
        "Config vars to redact from logs",
        max_length=500,
        blank=True,
        help_text="Comma-separated names; their values never appear in a deploy log.",
    )
    health_check_url = models.URLField(
        blank=True,
        help_text="Empty: the app's web URL as Heroku reports it. The health check runs when "
        "a URL or an expected text is set.",
    )
    # The URL's user info ("monitor:password") is kept encrypted here, never in the URL column.
    health_check_userinfo = EncryptedTextField(blank=True)
    health_check_status = models.PositiveIntegerField(default=200)
    health_check_text = models.CharField(
        max_length=200, blank=True, help_text="Setting only this checks the app's web URL for it."
    )
    health_check_retries = models.PositiveIntegerField(default=0)
    health_check_delay = models.PositiveIntegerField("Delay between checks (seconds)", default=5)
    auto_rollback = models.BooleanField(
        "Roll back automatically when the health check fails", default=False
    )
    auto_promote = models.BooleanField(
        "After a healthy deploy, promote to the next environment",
        default=False,
        help_text="The next environment is the one whose app is coupled at the next stage of "
        "this app's Heroku pipeline. Needs a health check on this environment.",
    )
    # Deploy gates (deploys/gates.py): approvals before a deploy starts, the lock a rollback sets.
    required_approvals = models.PositiveSmallIntegerField(
        "Required approvals",
        default=0,
        help_text="How many people must approve a deploy before it starts; 0: none.",
    )
    approver_role = models.CharField(
        "Who may approve",
        max_length=10,
        choices=[(Role.DEPLOYER, "Deployers and admins"), (Role.ADMIN, "Admins")],
        default=Role.ADMIN,
        help_text="Members with this role, unless people are named below.",
    )
    approvers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        verbose_name="Named approvers",
        help_text="When set, only these members may approve.",
    )
    self_approval = models.BooleanField(
        "The person who started a deploy may approve it", default=False
    )
    approval_hours = models.PositiveIntegerField(
        "A waiting deploy expires after (hours)", default=24
    )
    lock_after_rollback = models.BooleanField(
        "Lock the environment after a rollback",
        default=True,
        help_text="So the next green build does not undo the rollback; unlock when fixed.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="unique_environment_name")
        ]

    def __str__(self):
        return f"{self.name} ({self.app_name})"

    def save(self, *args, update_fields=None, **kwargs):
        # Whoever sets a URL with a password (the options form, an import), it is stored apart.
        writes_url = update_fields is None or "health_check_url" in update_fields
        if writes_url and "health_check_url" not in self.get_deferred_fields():
            self._keep_userinfo_apart()
            if update_fields is not None:
                update_fields = {*update_fields, "health_check_userinfo"}
        super().save(*args, update_fields=update_fields, **kwargs)

    def _keep_userinfo_apart(self):
        self.health_check_url, userinfo = http.split_userinfo(self.health_check_url)
        if userinfo:
            self.health_check_userinfo = userinfo
        elif not self.health_check_url:
            self.health_check_userinfo = ""

    @property
    def health_check_target(self) -> str:
        """The health check URL with its user info, for the call only."""
        return http.with_userinfo(self.health_check_url, self.health_check_userinfo)

    @property
    def shown_health_check_url(self) -> str:
        """As pages and logs show it: https://monitor:••••@host/..."""
        return http.masked(self.health_check_target)

    def branch_patterns(self) -> list[str]:
        return branches.patterns(self.branch)

    def matches(self, branch: str) -> bool:
        return branches.matches(self.branch, branch)

    def app_checked_with(self, key_hash: str) -> bool:
        """Whether Heroku confirmed this app name reachable with the key of hash `key_hash`."""
        return bool(key_hash) and (self.app_checked_name, self.app_checked_key_hash) == (
            self.app_name,
            key_hash,
        )

    def record_app_check(self, app_name: str, key_hash: str) -> None:
        """Note (unsaved) that Heroku just confirmed app `app_name` reachable with that key."""
        self.app_checked_name, self.app_checked_key_hash = app_name, key_hash
        self.app_checked_at = timezone.now()

    @staticmethod
    def split_names(value: str) -> list[str]:
        return [name.strip() for name in value.split(",") if name.strip()]


class AuditEvent(models.Model):
    """Who changed what in a project's setup. Never holds a secret value."""

    project = models.ForeignKey(Project, models.CASCADE, related_name="audit_events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+"
    )
    action = models.CharField(max_length=100)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"{self.action} by {self.actor} at {self.created_at:%Y-%m-%d %H:%M}"


# Installation access (setup token, invitations) lives beside the projects' models.
from projects.access_models import Invitation, SetupToken  # noqa: E402, F401


class EnvironmentLock(models.Model):
    """A locked environment: deploys wait for an unlock (or an admin's override). The row is the
    lock: creating it locks, deleting it unlocks, so two people cannot both lock it."""

    environment = models.OneToOneField(Environment, models.CASCADE, related_name="lock")
    reason = models.CharField(max_length=500)
    locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    locked_at = models.DateTimeField(auto_now_add=True)
    by_rollback = models.BooleanField(default=False)  # set by a rollback (lock_after_rollback)

    def __str__(self):
        return f"{self.environment.name} locked: {self.reason}"

    @property
    def by_name(self) -> str:
        return self.locked_by.get_username() if self.locked_by else "a deleted user"


class FreezeWindow(models.Model):
    """A time no deploy starts (deploys/gates.py): one-off (`starts_at` to `ends_at`) or weekly
    (from `start_weekday` `start_time` to `end_weekday` `end_time` in `timezone`). No
    environment: every environment of the project."""

    project = models.ForeignKey(Project, models.CASCADE, related_name="freeze_windows")
    environment = models.ForeignKey(
        Environment, models.CASCADE, null=True, blank=True, related_name="freeze_windows"
    )
    title = models.CharField(max_length=100)
    time_zone = models.CharField(max_length=64, default="UTC")
    weekly = models.BooleanField(default=False)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    start_weekday = models.PositiveSmallIntegerField(null=True, blank=True)  # 0 Monday
    start_time = models.TimeField(null=True, blank=True)
    end_weekday = models.PositiveSmallIntegerField(null=True, blank=True)
    end_time = models.TimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        return self.title
