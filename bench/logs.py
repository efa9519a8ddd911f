"""Log capture and log ingest: a real command's output through the deploy engine's runner and
log writer (`deploys.runners.run` + `deploys.logwriter.LogWriter`) into the database.

- log_capture_ratio: a command printing 200,000 lines paced over about 2 s, captured, against the
  same command with its output sent to /dev/null. Capture must not slow a step down.
- log_ingest_lines_per_s_<db>: an unpaced burst (`seq 1 200000 | sed 's/^/line /'`), from the
  start of the command until the writer has stored the last line; every line is read back and
  checked (count and order). The baseline is the same burst into /dev/null.

`python -m bench.logs capture|ingest`; the database is the one in DATABASE_URL (SQLite by default).
"""

import subprocess
import sys
import tempfile
import time

from bench import common
from bench.common import Figure

LINES = 200_000
RUNS = 5
BURST = ["bash", "-c", f"seq 1 {LINES} | sed 's/^/line /'"]
# 100 batches of 2,000 lines, each batch due 20 ms after the previous one: about 2 s.
PACED = [
    sys.executable,
    "-c",
    "import sys, time\n"
    "start = time.monotonic()\n"
    "for batch in range(100):\n"
    "    delay = start + batch * 0.02 - time.monotonic()\n"
    "    if delay > 0: time.sleep(delay)\n"
    "    lines = (f'step output line {batch * 2000 + n}\\n' for n in range(2000))\n"
    "    sys.stdout.write(''.join(lines))\n"
    "    sys.stdout.flush()\n",
]


def captured(args, deploy) -> float:
    """Seconds from the command's start until its last line is stored."""
    from deploys import runners
    from deploys.logwriter import LogWriter

    started = time.perf_counter()
    writer = LogWriter(deploy)
    with tempfile.TemporaryDirectory() as cwd:
        status = runners.run(args, cwd=cwd, env=None, writer=writer, timeout=120)
    writer.close()
    elapsed = time.perf_counter() - started
    if status != 0:
        raise RuntimeError(f"{args} exited with {status}")
    return elapsed


def discarded(args) -> float:
    started = time.perf_counter()
    subprocess.run(args, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def check_stored(deploy, expected_text):
    """Every printed line stored once, in order: lines stored == lines printed."""
    from deploys.logformat import read_lines

    lines = read_lines(deploy, limit=LINES + 1)
    if len(lines) != LINES:
        raise RuntimeError(f"stored {len(lines)} lines of {LINES}")
    for index, line in enumerate(lines):
        if line.number != index + 1 or line.text != expected_text(index):
            raise RuntimeError(f"line {index + 1} is {line.text!r}")


def measure(args, expected_text):
    from bench import fixtures

    environment = fixtures.environment(fixtures.project(fixtures.user()))
    mine, base = [], []
    for _ in range(RUNS):
        deploy = fixtures.running_deploy(environment)
        mine.append(captured(args, deploy))
        check_stored(deploy, expected_text)
        base.append(discarded(args))
    return mine, base


def capture():
    mine, base = measure(PACED, lambda i: f"step output line {i}")
    ratio = common.median(mine) / common.median(base)
    detail = (
        f"{LINES:,} lines paced over ~2 s: captured {common.median(mine):.2f} s, "
        f"to /dev/null {common.median(base):.2f} s (medians of {RUNS})"
    )
    return [Figure("log_capture_ratio", ratio, "ratio", "<=1.05", "Log capture", detail, mine)]


def ingest():
    from django.db import connection

    mine, base = measure(BURST, lambda i: f"line {i + 1}")
    vendor = "postgres" if connection.vendor == "postgresql" else "sqlite"
    rate = LINES / common.median(mine)
    raw = LINES / common.median(base)
    target = ">=800000" if vendor == "sqlite" else ">=500000"
    detail = (
        f"{LINES:,}-line burst stored in {common.median(mine):.3f} s "
        f"({rate / raw:.0%} of the command's own {raw:,.0f} lines/s into /dev/null; "
        f"all lines read back in order; medians of {RUNS})"
    )
    name = f"log_ingest_lines_per_s_{vendor}"
    return [Figure(name, rate, "lines/s", target, f"Log ingest ({vendor})", detail, mine)]


if __name__ == "__main__":
    common.setup_django()
    common.run_main({"capture": capture, "ingest": ingest}[sys.argv[1]])
