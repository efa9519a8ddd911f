"""The projects app's pages: signing in and invitations, a new project, and a project's members,
settings and Heroku setup. herokucd/urls.py says where each list lives."""

from django.contrib.auth import views as auth_views
from django.urls import path

from projects import access_views, github_views, settings_views, setup_views, views

# At the site's root: the addresses a person is sent to by email or by the sign-in redirect.
people = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("setup/first-admin/", views.first_admin, name="first_admin"),
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
]

# Under /projects/.
projects = [
    path("new/", views.project_new, name="project_new"),
]

# Under /projects/<slug>/.
project = [
    path("members/", views.members, name="members"),
    path("members/<int:member_id>/role/", views.member_role, name="member_role"),
    path("members/<int:member_id>/remove/", views.member_remove, name="member_remove"),
    path("settings/", settings_views.settings_page, name="project_settings"),
    path(
        "settings/environments/<int:environment_id>/",
        settings_views.environment_options,
        name="environment_options",
    ),
    path(
        "settings/environments/<int:environment_id>/delete/",
        settings_views.environment_delete,
        name="environment_delete",
    ),
    path("settings/github/", github_views.github_token, name="github_token"),
    path("settings/import/", settings_views.import_circle_yml, name="circle_import"),
    path("heroku/setup/", setup_views.wizard, name="heroku_setup"),
    path("heroku/setup/<int:number>/", setup_views.step, name="heroku_setup_step"),
    path("heroku/setup/2/<str:action>/", setup_views.deploy_user_action, name="deploy_user_action"),
]
