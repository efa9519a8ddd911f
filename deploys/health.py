"""The health check step's request to the app."""

from herokucd import http

HEALTH_TIMEOUT = 10


def check_health(url, status, text) -> str | None:
    """None when healthy, else what was wrong. Raises http.Refused when the policy refuses the
    URL (or a redirect): an internal URL is never fetched, so its answer tells nothing."""
    try:
        response = http.request("GET", url, what="Health check", timeout=HEALTH_TIMEOUT)
    except http.RequestFailed as error:
        return f"no answer ({error})"
    if response.status != status:
        return f"status {response.status}, expected {status}"
    if text and text not in response.text:
        return f"the page does not contain {text!r}"
    return None
