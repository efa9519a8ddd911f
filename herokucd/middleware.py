from django.utils.cache import patch_cache_control


class NoStoreForSignedInUsers:
    """Pages of a signed-in user show credentials, deploy logs and settings: no cache may keep
    them, neither the browser's back/forward cache on a shared machine nor a proxy."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, no_store=True, private=True)
        return response
