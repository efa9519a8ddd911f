"""URLs of the setup wizard and the settings page (included from projects/urls.py)."""

from django.urls import path

from projects import settings_views, setup_views

P = "projects/<slug:slug>/"

urlpatterns = [
    path(P + "heroku/setup/", setup_views.wizard, name="heroku_setup"),
    path(P + "heroku/setup/<int:number>/", setup_views.step, name="heroku_setup_step"),
    path(
        P + "heroku/setup/2/<str:action>/",
        setup_views.deploy_user_action,
        name="deploy_user_action",
    ),
    path(P + "settings/", settings_views.settings_page, name="project_settings"),
    path(
        P + "settings/environments/<int:environment_id>/",
        settings_views.environment_options,
        name="environment_options",
    ),
    path(
        P + "settings/environments/<int:environment_id>/delete/",
        settings_views.environment_delete,
        name="environment_delete",
    ),
    path(P + "settings/import/", settings_views.import_circle_yml, name="circle_import"),
]
