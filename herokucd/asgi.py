"""The web process's application: gunicorn runs it in uvicorn workers (Procfile, `manage.py
serve`). Pages are plain Django views, run in threads; the live log stream is an async view that
waits without holding one (deploys/stream.py)."""

import os
import warnings

from django.core.asgi import get_asgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "herokucd.settings")
# Django runs each request's sync code in a thread of its own under ASGI: a connection kept open
# after the request would never be used again, only left open (Django's docs: disable persistent
# connections under ASGI). An operator's CONN_MAX_AGE still wins.
os.environ.setdefault("CONN_MAX_AGE", "0")
application = get_asgi_application()
# Static files (WhiteNoise) and the raw log download are sync iterators, read chunk by chunk in
# a thread under ASGI: what they should be. Django warns of it on every such response.
warnings.filterwarnings(
    "ignore", "StreamingHttpResponse must consume synchronous iterators", Warning
)
# Every URLconf and view module imported now, as the worker starts, not by its first request
# (which took a quarter of a second longer: a CI webhook, a person's first page).
URL_PATTERNS = get_resolver().url_patterns
