"""The web process's application: gunicorn runs it in uvicorn workers (Procfile, `manage.py
serve`). Pages are plain Django views, run in threads; the live log stream is an async view that
waits without holding one (deploys/stream.py)."""

import os

from django.core.asgi import get_asgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "herokucd.settings")
application = get_asgi_application()
# Every URLconf and view module imported now, as the worker starts, not by its first request
# (which took a quarter of a second longer: a CI webhook, a person's first page).
URL_PATTERNS = get_resolver().url_patterns
