from django.conf import settings
from django.db import models
from django.urls import reverse


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
    repository_url = models.CharField(
        "Repository",
        max_length=500,
        help_text="A git URL or a local path to a git repository the workers can read.",
    )
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
