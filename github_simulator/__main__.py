"""python -m github_simulator --port PORT --token TOKEN=LOGIN --repo OWNER/NAME"""

import argparse
import signal
import sys
import threading

from .server import GitHubSimulator


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m github_simulator")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", action="append", default=[], help="TOKEN=LOGIN, repeatable")
    parser.add_argument("--repo", action="append", default=[], help="OWNER/NAME, repeatable")
    args = parser.parse_args(argv)
    tokens = dict(entry.split("=", 1) for entry in args.token)
    sim = GitHubSimulator(tokens, args.repo, port=args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sim.start()
    print(f"github-simulator ready api={sim.url}", flush=True)
    stop.wait()
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
