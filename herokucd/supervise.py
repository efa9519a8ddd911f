"""The processes `manage.py serve` and `manage.py demo` start, and how they all stop together.

- Each child runs in a session of its own, so Ctrl-C in the terminal reaches only the command,
  which then stops the children in order.
- Each child dies with the command (Linux's parent-death signal, SIGTERM, set in the child before
  it runs its program): a command killed with SIGKILL leaves nothing running (the embedded
  Redis, shared by design, stops by itself once idle: herokucd/embedded_redis.py). The RQ worker
  passes it on to its work horse and scheduler (deploys.worker.ForegroundWorker); gunicorn's
  master stops its workers.
- The first SIGINT, SIGTERM or SIGHUP stops every child: SIGTERM to its process group, SIGKILL
  if it is still there after STOP_TIMEOUT seconds. A second one while they stop does not cut
  the stop short: it kills what is left at once.
"""

import contextlib
import ctypes
import functools
import os
import signal
import subprocess
import time

STOP_TIMEOUT = 10
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
try:  # looked up here: a child between fork and exec should not load libraries
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except AttributeError:  # not Linux: children stop with the command, not with its death
    _prctl = None


class Stop(BaseException):
    """Raised in the command by the first stop signal; like KeyboardInterrupt, not an error."""


def die_with_parent(parent: int, sig=signal.SIGTERM):
    """Have the kernel send `sig` to this process when the thread of `parent` that started it
    exits; exit now if `parent` is gone already (it died before the signal was set)."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def dying_with_this_process():
    """A Popen `preexec_fn`: the child gets SIGTERM when this process exits, however it exits."""
    return functools.partial(die_with_parent, os.getpid())


def forks_die_with_this_process():
    """Every process this one forks from now on (RQ's work horse and scheduler) gets SIGTERM
    when this process exits, and so on down: the hooks are inherited."""
    os.register_at_fork(before=_note_parent, after_in_child=lambda: die_with_parent(_forking))


_forking = 0


def _note_parent():
    global _forking
    _forking = os.getpid()


def start(command, **popen_args) -> subprocess.Popen:
    """A child in its own session that dies with this process."""
    return subprocess.Popen(
        command, start_new_session=True, preexec_fn=dying_with_this_process(), **popen_args
    )


class Children:
    """The children of one foreground command. Used as a context manager around the command's
    whole life: signals stop it from the start, and every child started is stopped at the end,
    newest first (the web server before the simulator it talks to)."""

    def __init__(self):
        self.processes: list[subprocess.Popen] = []
        self.stopping = False

    def __enter__(self):
        self._previous = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, *exc_info):
        self.stopping = True
        try:
            for process in reversed(self.processes):
                stop_group(process)
        finally:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
        return exc_info[0] is Stop or exc_info[0] is KeyboardInterrupt

    def start(self, command, **popen_args) -> subprocess.Popen:
        return self.adopt(start(command, **popen_args))

    def adopt(self, process: subprocess.Popen) -> subprocess.Popen:
        self.processes.append(process)
        return process

    def wait(self) -> subprocess.Popen:
        """Until a child exits (returned) or a stop signal comes (Stop raised)."""
        while True:
            for process in self.processes:
                if process.poll() is not None:
                    return process
            time.sleep(0.5)

    def _on_signal(self, signum, frame):
        if not self.stopping:
            self.stopping = True
            raise Stop(signal.Signals(signum).name)
        for process in self.processes:  # asked again while stopping: no more waiting
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)


def stop_group(child: subprocess.Popen):
    """SIGTERM the child's whole process group, SIGKILL it if it lingers."""
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 2)):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            child.poll()
            return
        try:
            child.wait(wait)
            _reap_group(child.pid, wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _reap_group(pgid, wait):
    """Wait until no process is left in the group (gunicorn's workers, RQ's scheduler)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise subprocess.TimeoutExpired("process group", wait)
