"""Where each page lives. Each app lists its own pages in its urls.py; this file gives each list
its prefix, in the order a reader meets them:

    /                                   home                          deploys
    /projects/new/                      a new project                 projects
    /projects/<slug>/members|settings|heroku/setup/...                projects
    /projects/<slug>/, deploys/<n>/, triggers/, notifications/        deploys
    /account/tokens/                    API tokens                    deploys
    /hooks/<id>/                        the CI webhook (public)       deploys
    /api/v1/                            the JSON API (token)          deploys
    /login/, /invitations/, /account/.. signing in, invitations       projects
    /admin/                             Django admin, RQ (staff)

"/projects/new/" comes before "/projects/<slug>/" as the slug pattern would match it too
(projects.forms.RESERVED_SLUGS keeps "new" from being a project's slug).
"""

from django.contrib import admin
from django.urls import include, path

from deploys import urls as deploys
from projects import urls as projects

urlpatterns = [
    path("", include(deploys.home)),
    path("projects/", include(projects.projects)),
    path("projects/<slug:slug>/", include(projects.project)),
    path("projects/<slug:slug>/", include(deploys.project)),
    path("account/tokens/", include(deploys.tokens)),
    path("hooks/", include(deploys.hooks)),
    path("api/v1/", include(deploys.api)),
    path("", include(projects.people)),
    path("admin/rq/", include("django_rq.urls")),  # staff only: its views require staff
    path("admin/", admin.site.urls),
]
