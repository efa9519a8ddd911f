"""The web process's application: gunicorn runs it in uvicorn workers (Procfile, `manage.py
serve`). Pages are plain Django views, run in threads; the live log stream is an async view that
waits without holding one (deploys/stream.py)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "herokucd.settings")
application = get_asgi_application()
