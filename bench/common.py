"""What every benchmark shares: a private data folder and database, Django set up on it, medians,
and the result line `bench/run.py` reads.

A benchmark is a module `bench/<name>.py` with `main() -> list[Figure]`, run in its own process
(`python -m bench.<name>`) so each gets a fresh data folder, database and embedded Redis.
"""

import json
import os
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT_PREFIX = "BENCH-RESULT "


@dataclass
class Figure:
    """One measured number, with its baseline when the figure is a comparison."""

    name: str  # the machine name: bench: <name> value=...
    value: float
    unit: str
    target: str  # "<=1.10", ">=800000", or "" when the issue sets none
    label: str  # what the table says
    detail: str = ""  # medians, baseline, sizes: what a reader needs to trust the figure
    runs: list = field(default_factory=list)

    @property
    def met(self):
        if not self.target:
            return None
        op, number = self.target[:2], float(self.target[2:])
        return self.value <= number if op == "<=" else self.value >= number


def bench_env(name: str, **extra) -> dict:
    """Environment of a benchmark process: its own data folder, SQLite unless told otherwise."""
    data_dir = ROOT / ".data" / "bench" / name
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    env = {**os.environ, "HEROKUCD_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": ""}
    env["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update(extra)
    return env


def setup_django(migrate=True):
    """Django on the benchmark's settings; its database migrated."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def median(values):
    return statistics.median(values)


def p95(values):
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def timed(function, *args, **kwargs) -> float:
    started = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - started


def say(text):
    """Progress for the person running `make bench`, on stderr (stdout carries results)."""
    print(text, file=sys.stderr, flush=True)


def report(figures):
    for figure in figures:
        print(RESULT_PREFIX + json.dumps(asdict(figure)), flush=True)


def run_main(main):
    report(main())
