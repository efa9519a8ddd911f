"""Requests made at the same moment, for the races a lock or a conditional UPDATE must win."""

import functools
import threading

import requests


def at_once(calls, timeout=90) -> list:
    """Run each zero-argument call in its own thread, all released together; their results."""
    barrier, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(index, call):
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results


def post_all_at_once(url, deliveries) -> list:
    """POST every (body, headers) to `url`, all released together; the responses."""
    post = functools.partial(requests.post, url, timeout=60)
    return at_once(
        [functools.partial(post, data=body, headers=headers) for body, headers in deliveries]
    )
