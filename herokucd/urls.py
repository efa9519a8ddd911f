from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from projects import access_views
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
    path("invitations/", access_views.invitations, name="invitations"),
    path("invitations/<int:pk>/revoke/", access_views.invitation_revoke, name="invitation_revoke"),
    # Public: an invitation's link, and resetting a forgotten password by email.
    path(
        "account/invitation/<str:token>/", access_views.invitation_accept, name="invitation_accept"
    ),
    path("account/password-reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "account/password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "account/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "account/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("admin/rq/", include("django_rq.urls")),  # staff only: its views require staff
    path("admin/", admin.site.urls),
    path("", include("projects.urls")),
    path("", include("deploys.urls")),
]
