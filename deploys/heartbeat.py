"""The heartbeat of a running deploy, and the name its worker goes by.

While a deploy is a process's (its pipeline, or the reaper cleaning it up), that process writes
`Deploy.heartbeat_at` every second; the reaper judges a deploy whose heartbeat stopped dead.
"""

import contextlib
import os
import socket
import threading

from django.db import connection
from django.utils import timezone

from deploys.models import Deploy, State

HEARTBEAT_SECONDS = 1.0  # also how quickly a cancel is noticed


def this_worker(pid: int | None = None) -> str:
    """This process (or process `pid` of this host) as `Deploy.worker_name` names it."""
    return f"{socket.gethostname()}:{pid or os.getpid()}"


class Heartbeat:
    """Writes Deploy.heartbeat_at every second while the deploy is this process's; notices a
    cancel, and the reaper taking over a deploy it judged dead (it sets its own worker_name)."""

    def __init__(self, deploy_id, cancel_event, worker_name=None):
        self.deploy_id = deploy_id
        self.cancel_event = cancel_event
        self.worker_name = worker_name or this_worker()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="deploy-heartbeat")

    def start(self):
        self.beat()
        self.thread.start()

    def stop(self):
        self.stopped.set()
        self.thread.join(5)

    def _loop(self):
        try:
            while not self.stopped.wait(HEARTBEAT_SECONDS):
                with contextlib.suppress(Exception):  # a missed beat is not worth dying for
                    self.beat()
        finally:
            connection.close()

    def beat(self):
        ours = Deploy.objects.filter(
            pk=self.deploy_id, state=State.RUNNING, worker_name=self.worker_name
        )
        gone = not ours.update(heartbeat_at=timezone.now())  # ended, or the reaper took it over
        if gone or ours.filter(cancel_requested=True).exists():
            self.cancel_event.set()
