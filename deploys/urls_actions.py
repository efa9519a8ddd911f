from django.urls import path

from deploys import actions_views as views

DEPLOY = "projects/<slug:slug>/deploys/<int:number>"

urlpatterns = [
    path("projects/<slug:slug>/deploy/", views.deploy_new, name="deploy_new"),
    path(f"{DEPLOY}/cancel/", views.deploy_cancel, name="deploy_cancel"),
    path(f"{DEPLOY}/retry/", views.deploy_retry, name="deploy_retry"),
    path(f"{DEPLOY}/rollback/", views.deploy_rollback, name="deploy_rollback"),
]
