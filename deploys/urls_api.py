from django.urls import path

from deploys import api_views as views

urlpatterns = [
    path("projects/", views.projects, name="api_projects"),
    path("projects/<slug:slug>/", views.project, name="api_project"),
    path("projects/<slug:slug>/deploys/", views.deploys, name="api_deploys"),
    path("projects/<slug:slug>/deploys/<int:number>/", views.deploy, name="api_deploy"),
    path("projects/<slug:slug>/deploys/<int:number>/log/", views.deploy_log, name="api_deploy_log"),
]
