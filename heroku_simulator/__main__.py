"""python -m heroku_simulator --port PORT --state STATE.json [--data-dir DIR]"""

import argparse
import json
import signal
import sys
import threading

from .server import Simulator


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m heroku_simulator")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--state", required=True, help="STATE.json seed")
    parser.add_argument("--data-dir", help="where repositories and ca.pem go (default: temp)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    with open(args.state) as seed_file:
        seed = json.load(seed_file)
    sim = Simulator(seed, port=args.port, data_dir=args.data_dir, verbose=args.verbose)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sim.start()
    print(sim.ready_line(), flush=True)
    stop.wait()
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
