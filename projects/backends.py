"""The sign-in backend: Django's ModelBackend, unchanged.

It keeps this name because every session records the backend that signed it in: renaming it
would sign everyone out.
"""

from django.contrib.auth import backends


class ModelBackend(backends.ModelBackend):
    pass
