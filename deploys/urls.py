from django.urls import include, path

urlpatterns = [
    path("", include("deploys.urls_triggers")),
    path("", include("deploys.urls_actions")),
]
