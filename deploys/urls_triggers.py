from django.urls import include, path

from deploys import webhook_views as views

urlpatterns = [
    path("hooks/<str:public_id>/", views.webhook, name="webhook"),
    path("projects/<slug:slug>/triggers/", views.triggers, name="triggers"),
    path("projects/<slug:slug>/triggers/webhook/", views.webhook_create, name="webhook_create"),
    path(
        "projects/<slug:slug>/triggers/webhook/rotate/",
        views.webhook_rotate,
        name="webhook_rotate",
    ),
    path(
        "projects/<slug:slug>/triggers/webhook/delete/",
        views.webhook_delete,
        name="webhook_delete",
    ),
    path(
        "projects/<slug:slug>/triggers/webhook/gitlab-token/",
        views.gitlab_token,
        name="webhook_gitlab_token",
    ),
    path("projects/<slug:slug>/notifications/", views.notifications, name="notifications"),
    path(
        "projects/<slug:slug>/notifications/<int:target_id>/delete/",
        views.notification_delete,
        name="notification_delete",
    ),
    path("account/tokens/", views.api_tokens, name="api_tokens"),
    path("account/tokens/<int:token_id>/revoke/", views.api_token_revoke, name="api_token_revoke"),
    path("api/v1/", include("deploys.urls_api")),
]
