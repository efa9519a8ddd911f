import socket
import time

from herokucd.heroku import NotFound


def refused_url():
    """The URL of a local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def is_stopped(heroku, app_name, dyno, wait=3.0):
    """Whether the dyno is gone from the API (or shown down) within `wait` seconds."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            if heroku.dyno(app_name, dyno)["state"] in ("down", "crashed"):
                return True
        except NotFound:
            return True  # a finished one-off disappears from the API
        time.sleep(0.1)
    return False
