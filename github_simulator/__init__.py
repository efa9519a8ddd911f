"""A local GitHub REST API for the calls herokucd makes: who a token belongs to (GET /user) and
deployments with their statuses, answering as GitHub's official OpenAPI description says
(github-openapi-excerpt.json, copied here; tests validate requests and responses against it).

`python -m github_simulator --port PORT --token TOKEN=LOGIN --repo OWNER/NAME ...`, or
`GitHubSimulator(...)` in a thread (tests)."""

from .server import GitHubSimulator

__all__ = ["GitHubSimulator"]
