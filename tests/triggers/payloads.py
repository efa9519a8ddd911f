"""Realistic CI webhook bodies (fields as documented, trimmed of what herokucd never reads)."""

from datetime import UTC, datetime

SHA = "9b2d5f0c3e8a4d1b7f6e5c4d3b2a1908f7e6d5c4"


def github_workflow_run(branch="main", conclusion="success", action="completed", sha=SHA):
    return {
        "action": action,
        "workflow_run": {
            "id": 30433642,
            "name": "CI",
            "head_branch": branch,
            "head_sha": sha,
            "path": ".github/workflows/ci.yml",
            "run_number": 562,
            "event": "push",
            "status": "completed" if action == "completed" else "in_progress",
            "conclusion": conclusion if action == "completed" else None,
            "workflow_id": 159038,
            "url": "https://api.github.com/repos/octo-org/octo-repo/actions/runs/30433642",
            "html_url": "https://github.com/octo-org/octo-repo/actions/runs/30433642",
            "head_repository": {"id": 1296269, "full_name": "octo-org/octo-repo"},
            "repository": {"id": 1296269, "full_name": "octo-org/octo-repo"},
        },
        "workflow": {"id": 159038, "name": "CI", "path": ".github/workflows/ci.yml"},
        "repository": {"id": 1296269, "full_name": "octo-org/octo-repo"},
        "sender": {"login": "octocat", "id": 1},
    }


def github_check_suite(branch="main", conclusion="success", action="completed", sha=SHA):
    return {
        "action": action,
        "check_suite": {
            "id": 118578147,
            "head_branch": branch,
            "head_sha": sha,
            "status": "completed",
            "conclusion": conclusion,
            "app": {"id": 15368, "slug": "github-actions", "name": "GitHub Actions"},
            "pull_requests": [],
        },
        "repository": {"id": 1296269, "full_name": "octo-org/octo-repo"},
        "sender": {"login": "octocat", "id": 1},
    }


def github_status(branches=("main",), state="success", sha=SHA):
    return {
        "id": 214015194,
        "sha": sha,
        "name": "octo-org/octo-repo",
        "target_url": "https://ci.example.com/builds/1",
        "context": "ci/jenkins",
        "description": "The build succeeded",
        "state": state,
        "commit": {"sha": sha},
        "branches": [
            {"name": name, "commit": {"sha": sha, "url": "https://api.github.com/..."}}
            for name in branches
        ],
        "repository": {"id": 1296269, "full_name": "octo-org/octo-repo"},
        "sender": {"login": "octocat", "id": 1},
    }


def now_iso() -> str:
    """Now as CircleCI writes `happened_at`: 2026-11-27T12:00:00.000Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fresh(payload: dict) -> dict:
    """`payload` as sent now: CircleCI's signed `happened_at` must be recent."""
    return {**payload, "happened_at": now_iso()} if "happened_at" in payload else payload


def _circleci_common(delivery_id, status, happened_at):
    return {
        "id": delivery_id,
        "type": "workflow-completed",
        "happened_at": happened_at or now_iso(),
        "webhook": {"id": "cf8c4fdd-0587-4da1-b4ca-4846e9640af9", "name": "herokucd"},
        "project": {
            "id": "84996744-a854-4f5e-aea3-04e2851dc1d2",
            "name": "web",
            "slug": "github/acme/web",
        },
        "organization": {"id": "f22b6566-597d-46d5-ba74-99ef5bb3d85c", "name": "acme"},
        "workflow": {
            "id": "fda08377-fe7e-46b1-8992-3a7aaecac9c3",
            "name": "build-test-deploy",
            "created_at": "2026-11-27T11:58:00.000Z",
            "stopped_at": "2026-11-27T12:00:00.000Z",
            "url": "https://app.circleci.com/pipelines/github/acme/web/130/workflows/fda08377",
            "status": status,
        },
    }


def circleci_workflow(
    branch="main",
    status="success",
    sha=SHA,
    delivery_id="3888f21b-eaa7-38e3-8f3d-75a63bba8895",
    happened_at=None,
):
    body = _circleci_common(delivery_id, status, happened_at)
    body["pipeline"] = {
        "id": "1285fe1d-d3a6-44fc-8886-8979558254c4",
        "number": 130,
        "created_at": "2026-11-27T11:58:00.000Z",
        "trigger": {"type": "webhook"},
        "vcs": {
            "provider_name": "github",
            "origin_repository_url": "https://github.com/acme/web",
            "target_repository_url": "https://github.com/acme/web",
            "revision": sha,
            "branch": branch,
            "commit": {
                "subject": "Fix the thing",
                "body": "",
                "author": {"name": "Alice", "email": "alice@example.com"},
            },
        },
    }
    return body


def circleci_workflow_trigger_parameters(
    branch="main",
    status="success",
    sha=SHA,
    delivery_id="6f2bd0c5-a0d9-4b0b-9c1a-1c2e0a3d4b5f",
    happened_at=None,
):
    """A GitLab or GitHub App project: `trigger_parameters` instead of `vcs`."""
    body = _circleci_common(delivery_id, status, happened_at)
    body["pipeline"] = {
        "id": "7d1e5a3b-2c4f-4e6a-8b9c-0d1e2f3a4b5c",
        "number": 31,
        "created_at": "2026-11-27T11:58:00.000Z",
        "trigger": {"type": "gitlab"},
        "trigger_parameters": {
            "circleci": {
                "event_type": "push",
                "trigger_type": "gitlab",
                "event_time": "2026-11-27T11:57:59.000Z",
            },
            "gitlab": {
                "type": "push",
                "project_id": "42",
                "ref": f"refs/heads/{branch}",
                "checkout_sha": sha,
                "branch": branch,
                "repo_url": "https://gitlab.com/acme/web",
            },
            "git": {
                "tag": "",
                "checkout_sha": sha,
                "ref": f"refs/heads/{branch}",
                "branch": branch,
                "checkout_url": "https://gitlab.com/acme/web.git",
            },
        },
    }
    return body


def gitlab_pipeline(ref="main", status="success", sha=SHA, tag=False):
    return {
        "object_kind": "pipeline",
        "object_attributes": {
            "id": 31,
            "iid": 3,
            "name": "Pipeline for branch: main",
            "ref": ref,
            "tag": tag,
            "sha": sha,
            "before_sha": "bcbb5ec396a2c0f828686f14fac9b80b780504f2",
            "source": "push",
            "status": status,
            "detailed_status": "passed" if status == "success" else status,
            "stages": ["build", "test", "deploy"],
            "created_at": "2026-11-27 11:58:00 UTC",
            "finished_at": "2026-11-27 12:00:00 UTC",
            "duration": 63,
            "variables": [],
            "url": "http://example.com/gitlab-org/gitlab-test/-/pipelines/31",
        },
        "merge_request": None,
        "user": {"id": 1, "name": "Administrator", "username": "root"},
        "project": {
            "id": 1,
            "name": "Gitlab Test",
            "path_with_namespace": "gitlab-org/gitlab-test",
            "default_branch": "main",
        },
        "commit": {"id": sha, "message": "test\n", "timestamp": "2026-11-27T11:57:00+00:00"},
        "builds": [
            {"id": 380, "stage": "deploy", "name": "production", "status": "skipped"},
            {"id": 377, "stage": "test", "name": "test-image", "status": "success"},
            {
                "id": 378,
                "stage": "test",
                "name": "test-build",
                "status": "failed",
                "allow_failure": True,
            },
        ],
    }
