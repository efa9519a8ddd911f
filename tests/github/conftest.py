import pytest
from django.utils import timezone

from github_simulator import GitHubSimulator
from projects.models import Environment, GitHubToken

TOKEN = "ghp_" + "a1B2" * 9
OTHER_TOKEN = "ghp_" + "z9Y8" * 9
REPO = "octo/shop"


@pytest.fixture
def github_sim(settings):
    """A GitHub API on 127.0.0.1 (herokucd's test settings allow loopback calls) that knows
    TOKEN (octocat) and OTHER_TOKEN (hubot), both able to deploy REPO."""
    sim = GitHubSimulator({TOKEN: "octocat", OTHER_TOKEN: "hubot"}, [REPO]).start()
    settings.GITHUB_API_URL = sim.url
    yield sim
    sim.stop()


@pytest.fixture
def github_project(project):
    project.repository_url = f"https://github.com/{REPO}.git"
    project.save(update_fields=["repository_url"])
    return project


@pytest.fixture
def github_token(github_project, alice):
    return GitHubToken.objects.create(
        project=github_project,
        token=TOKEN,
        login="octocat",
        validated_at=timezone.now(),
        set_by=alice,
    )


@pytest.fixture
def production(github_project):
    return Environment.objects.create(
        project=github_project,
        name="production",
        branch="main",
        app_name="shop-production",
        web_url="https://shop-production-1234.herokuapp.com/",
    )
