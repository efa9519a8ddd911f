from django.urls import path

from deploys import views

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/<slug:slug>/", views.project_overview, name="project"),
    path("projects/<slug:slug>/deploys/", views.deploy_history, name="deploy_history"),
    path("projects/<slug:slug>/deploys/<int:number>/", views.deploy_detail, name="deploy"),
    path("projects/<slug:slug>/deploys/<int:number>/log", views.deploy_log, name="deploy_log"),
    path(
        "projects/<slug:slug>/deploys/<int:number>/log/search",
        views.deploy_log_search,
        name="deploy_log_search",
    ),
    path(
        "projects/<slug:slug>/deploys/<int:number>/log.txt",
        views.deploy_log_raw,
        name="deploy_log_raw",
    ),
]
