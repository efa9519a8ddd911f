"""`make bench` runs on a fresh machine and prints what it promises: a table and one machine line
per figure, `bench: <name> value=<number> unit=<unit> target=<op><number>`."""

import os
import re
import subprocess
import sys

import pytest

from bench.common import ROOT, Figure
from bench.deploys import WORKERS, best_wall
from bench.run import machine_line

pytestmark = pytest.mark.slow


def test_a_benchmark_prints_its_table_and_machine_lines():
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "ingest"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"^Figure +Value +Target +Met +How$", done.stdout, re.M)
    line = re.search(
        r"^bench: log_ingest_lines_per_s_sqlite value=(\d+) unit=lines/s "
        r"target=>=800000$",
        done.stdout,
        re.M,
    )
    assert line, done.stdout
    assert int(line.group(1)) > 0


def test_a_figure_is_met_by_its_target_and_printed_in_one_line():
    ratio = Figure("deploy_overhead_ratio", 1.0734, "ratio", "<=1.10", "Deploy overhead")
    rate = Figure("log_ingest_lines_per_s_sqlite", 612345.6, "lines/s", ">=800000", "Ingest")
    untargeted = Figure("large_log_dom_nodes", 2104, "nodes", "", "Large log")
    assert (ratio.met, rate.met, untargeted.met) == (True, False, None)
    assert (
        machine_line(ratio) == "bench: deploy_overhead_ratio value=1.073 unit=ratio target=<=1.10"
    )
    assert machine_line(rate) == (
        "bench: log_ingest_lines_per_s_sqlite value=612346 unit=lines/s target=>=800000"
    )
    assert machine_line(untargeted).endswith("target=none")


def test_the_scale_figure_divides_by_the_shortest_wall_the_workers_and_cores_allow():
    at_once = min(WORKERS, os.cpu_count())
    spread = {"wall": 3.0, "bound": 0.6, "work": 5.5}  # many apps: the cores are the limit
    assert best_wall(spread) == pytest.approx(5.5 / at_once)
    one_app = {"wall": 3.0, "bound": 2.5, "work": 2.6}  # one app's deploys run one at a time
    assert best_wall(one_app) == 2.5
