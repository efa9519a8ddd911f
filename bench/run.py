"""`make bench`: run every benchmark, print a table, then one machine line per figure:

    bench: <name> value=<number> unit=<unit> target=<op><number>

Each benchmark runs in its own process with its own data folder (SQLite, embedded Redis); the
PostgreSQL ingest figure uses a database created for the run on the local server and dropped
after it. Exits non-zero only when a benchmark could not run (a missed target is a figure, not
an error). `python -m bench.run [name ...]` runs some of them.
"""

import json
import subprocess
import sys
import time

from bench import common, postgres
from bench.common import RESULT_PREFIX, Figure

BENCHMARKS = {
    "capture": ["bench.logs", "capture"],
    "ingest": ["bench.logs", "ingest"],
    "ingest_postgres": ["bench.logs", "ingest"],
    "pages": ["bench.pages"],
    "metrics": ["bench.metrics"],
    "load": ["bench.load"],
    "streams": ["bench.streams"],
    "deploy": ["bench.deploys", "overhead"],
    "build_api": ["bench.deploys", "build"],
    "pickup": ["bench.deploys", "pickup"],
    "scale": ["bench.deploys", "scale"],
    "live_log": ["bench.browser", "live"],
    "large_log": ["bench.browser", "large"],
}
TIMEOUT = 600


def run_one(name) -> tuple[list[Figure], str]:
    """(figures, problem): the figures it printed, or why it could not run."""
    if name == "ingest_postgres":
        with postgres.bench_database() as url:
            if url is None:
                return [], "PostgreSQL is not reachable at 127.0.0.1:5432"
            return _run(name, DATABASE_URL=url)
    return _run(name)


def _run(name, **env):
    command = [sys.executable, "-m", *BENCHMARKS[name]]
    common.say(f"== {name}")
    try:
        done = subprocess.run(
            command,
            cwd=common.ROOT,
            env=common.bench_env(name, **env),
            stdout=subprocess.PIPE,
            text=True,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return [], f"did not finish within {TIMEOUT} s"
    figures = [
        Figure(**json.loads(line[len(RESULT_PREFIX) :]))
        for line in done.stdout.splitlines()
        if line.startswith(RESULT_PREFIX)
    ]
    problem = "" if done.returncode == 0 else f"exited with status {done.returncode}"
    return figures, problem


def table(figures):
    rows = [("Figure", "Value", "Target", "Met", "How")]
    for f in figures:
        met = {True: "yes", False: "NO", None: "-"}[f.met]
        rows.append((f.label, f"{_number(f.value)} {f.unit}", f.target or "-", met, f.detail))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[4]]))


def _number(value):
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def machine_line(f: Figure) -> str:
    value = f"{f.value:.0f}" if abs(f.value) >= 1000 else f"{f.value:.4g}"
    # A figure the issue sets no target for says so, rather than inventing one.
    return f"bench: {f.name} value={value} unit={f.unit} target={f.target or 'none'}"


def main(names):
    started = time.monotonic()
    figures, problems = [], []
    for name in names:
        found, problem = run_one(name)
        figures += found
        if problem:
            problems.append(f"{name}: {problem}")
    print()
    table(figures)
    print()
    for figure in figures:
        print(machine_line(figure))
    for problem in problems:
        print(f"bench: could not run {problem}", file=sys.stderr)
    print(f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or list(BENCHMARKS)))
