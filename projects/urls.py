from django.urls import include, path

from projects import views

urlpatterns = [
    path("projects/<slug:slug>/members/", views.members, name="members"),
    path(
        "projects/<slug:slug>/members/<int:member_id>/role/", views.member_role, name="member_role"
    ),
    path(
        "projects/<slug:slug>/members/<int:member_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path("", include("projects.urls_setup")),
]
