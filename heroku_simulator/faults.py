"""Injected faults: `{"route": "PATCH /apps/{app}", "status": 503, "count": 2, "delay": 5}`.

Routes are the simulator's route patterns: Platform API routes as "METHOD /path/{param}",
every git request as "GIT /{app}.git", rendezvous connections as "RENDEZVOUS", release output
streams as "RELEASE-OUTPUT" (with `drop_after`: bytes sent before the connection is cut).
Without `count` a fault applies until reset.
"""

import threading
import time


class Faults:
    def __init__(self):
        self._faults = []
        self._lock = threading.Lock()

    def add(self, spec):
        if not isinstance(spec.get("route"), str):
            raise ValueError("route is required")
        fault = {
            "route": spec["route"].strip(),
            "status": spec.get("status"),
            "delay": float(spec.get("delay") or 0),
            "count": spec.get("count"),
            "message": spec.get("message"),
            "drop_after": spec.get("drop_after"),
        }
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self):
        with self._lock:
            self._faults.clear()

    def list(self):
        with self._lock:
            return [dict(f) for f in self._faults]

    def take(self, route, wait=True):
        """Consume the first fault for `route`; sleep its delay (unless `wait` is False: the
        caller spends it as it must, e.g. a build that a cancel may cut short); return it or
        None."""
        with self._lock:
            fault = next((f for f in self._faults if f["route"] == route), None)
            if fault is None:
                return None
            if fault["count"] is not None:
                fault["count"] -= 1
                if fault["count"] <= 0:
                    self._faults.remove(fault)
        if fault["delay"] and wait:
            time.sleep(fault["delay"])
        return fault
