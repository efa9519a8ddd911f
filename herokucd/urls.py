from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from projects import views as project_views

urlpatterns = [
    path("login/", project_views.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("setup/first-admin/", project_views.first_admin, name="first_admin"),
    path("admin/rq/", include("django_rq.urls")),  # staff only: its views require staff
    path("admin/", admin.site.urls),
    # projects first: "projects/new/" must win over the project page "projects/<slug>/".
    path("", include("projects.urls")),
    path("", include("deploys.urls")),
]
