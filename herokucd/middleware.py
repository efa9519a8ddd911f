from django.utils.cache import patch_cache_control


class NoStoreForSignedInUsers:
    """Pages of a signed-in user show credentials, deploy logs and settings: no cache may keep
    them, neither the browser's back/forward cache on a shared machine nor a proxy."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # Any session at all marks a signed-in visitor; asking for request.user would cost every
        # response a session and user lookup, even where the view needed neither.
        session = getattr(request, "session", None)
        if session is not None and not session.is_empty():
            patch_cache_control(response, no_store=True, private=True)
        return response
