from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from projects import views as project_views

urlpatterns = [
    # The pages and live logs asked for most first: a URL is resolved by trying patterns in
    # order. The new-project page before them, as "projects/<slug>/" would match it too
    # (projects.forms.RESERVED_SLUGS keeps "new" from being a project's slug).
    path("projects/new/", project_views.project_new, name="project_new"),
    path("", include("deploys.urls_views")),
    path("login/", project_views.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("setup/first-admin/", project_views.first_admin, name="first_admin"),
    path("admin/rq/", include("django_rq.urls")),  # staff only: its views require staff
    path("admin/", admin.site.urls),
    path("", include("projects.urls")),
    path("", include("deploys.urls")),
]
