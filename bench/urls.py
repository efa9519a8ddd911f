"""herokucd's URLs plus the baseline of the page benchmark: a bare Django view."""

from django.http import HttpResponse
from django.urls import include, path


def bare(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("bench/bare/", bare),
    path("", include("herokucd.urls")),
]
