import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "herokucd.settings")
application = get_wsgi_application()
# Every URLconf and view module imported now, as the worker starts, not by its first request
# (which took a quarter of a second longer: a CI webhook, a person's first page).
URL_PATTERNS = get_resolver().url_patterns
