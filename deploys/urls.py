"""The deploys app's pages: home, a project's page, its deploys and their logs, the buttons that
start, cancel, retry, roll back or promote a deploy, triggers and notifications, API tokens, the CI
webhook and the JSON API. herokucd/urls.py says where each list lives."""

from django.urls import path

from deploys import (
    actions_views,
    api_views,
    gate_views,
    metrics_views,
    plan_views,
    stream,
    views,
    webhook_views,
)

# At the site's root.
home = [
    path("", views.home, name="home"),
]

# Under /projects/<slug>/. A deploy's page (`deploys/<number>/`) is a permalink people share,
# with `#L<n>` anchors to its log lines.
project = [
    path("", views.project_overview, name="project"),
    path("deploy/", actions_views.deploy_new, name="deploy_new"),
    path("deploy/plan/", plan_views.deploy_plan, name="deploy_plan"),
    path("deploys/", views.deploy_history, name="deploy_history"),
    path("deploys/<int:number>/", views.deploy_detail, name="deploy"),
    path("deploys/<int:number>/log", views.deploy_log, name="deploy_log"),
    path("deploys/<int:number>/log/stream", stream.deploy_stream, name="deploy_stream"),
    path("deploys/<int:number>/log/search", views.deploy_log_search, name="deploy_log_search"),
    path("deploys/<int:number>/log.txt", views.deploy_log_raw, name="deploy_log_raw"),
    path("deploys/<int:number>/cancel/", actions_views.deploy_cancel, name="deploy_cancel"),
    path("deploys/<int:number>/retry/", actions_views.deploy_retry, name="deploy_retry"),
    path("deploys/<int:number>/rollback/", actions_views.deploy_rollback, name="deploy_rollback"),
    path("deploys/<int:number>/promote/", actions_views.deploy_promote, name="deploy_promote"),
    path("log-scrubs/", actions_views.scrub_again, name="log_scrub_again"),
    path("deploys/<int:number>/approval/", gate_views.deploy_approval, name="deploy_approval"),
    path("protection/", gate_views.protection, name="protection"),
    path(
        "protection/<int:environment_id>/lock/",
        gate_views.environment_lock,
        name="environment_lock",
    ),
    path(
        "protection/<int:environment_id>/unlock/",
        gate_views.environment_unlock,
        name="environment_unlock",
    ),
    path(
        "protection/<int:environment_id>/approvals/",
        gate_views.approval_rules,
        name="approval_rules",
    ),
    path("protection/windows/new/", gate_views.window_add, name="freeze_window_add"),
    path(
        "protection/windows/<int:window_id>/delete/",
        gate_views.window_delete,
        name="freeze_window_delete",
    ),
    path("metrics/", metrics_views.metrics_page, name="metrics"),
    path("triggers/", webhook_views.triggers, name="triggers"),
    path(
        "triggers/deliveries/<int:event_id>/plan/",
        plan_views.delivery_plan,
        name="delivery_plan",
    ),
    path("triggers/webhook/", webhook_views.webhook_create, name="webhook_create"),
    path("triggers/webhook/rotate/", webhook_views.webhook_rotate, name="webhook_rotate"),
    path("triggers/webhook/delete/", webhook_views.webhook_delete, name="webhook_delete"),
    path(
        "triggers/webhook/gitlab-token/",
        webhook_views.gitlab_token,
        name="webhook_gitlab_token",
    ),
    path("notifications/", webhook_views.notifications, name="notifications"),
    path(
        "notifications/<int:target_id>/delete/",
        webhook_views.notification_delete,
        name="notification_delete",
    ),
]

# Under /account/tokens/: the signed-in user's API tokens.
tokens = [
    path("", webhook_views.api_tokens, name="api_tokens"),
    path("<int:token_id>/revoke/", webhook_views.api_token_revoke, name="api_token_revoke"),
]

# Under /hooks/: the CI webhook, public, its signature is the authentication. Its address is
# saved in CI settings: it never changes.
hooks = [
    path("<str:public_id>/", webhook_views.webhook, name="webhook"),
]

# Under /api/v1/: the JSON API, authenticated by a token. Scripts call these addresses.
api = [
    path("projects/", api_views.projects, name="api_projects"),
    path("projects/<slug:slug>/", api_views.project, name="api_project"),
    path("projects/<slug:slug>/deploys/", api_views.deploys, name="api_deploys"),
    path("projects/<slug:slug>/deploys/<int:number>/", api_views.deploy, name="api_deploy"),
    path(
        "projects/<slug:slug>/deploys/<int:number>/log/",
        api_views.deploy_log,
        name="api_deploy_log",
    ),
]
