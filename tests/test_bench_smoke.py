"""Smoke test of the benchmark harness (``python -m bench``): it runs end to end on
tiny N for corral's own two backends and prints a table with a row per workload.

The benchmark itself is not part of the test suite and nothing here looks at a
number: a corral-only run needs none of the ``bench`` extra's packages (the peers),
only ``redis-server`` on PATH, like the rest of the suite.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from bench.harness import FIRST_COLUMN, WORKLOADS
from tests.conftest import require_uvloop, service_missing

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_quick_corral_only_run_prints_a_row_per_workload(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        service_missing("redis-server is not on PATH (apt-get install -y redis-server)")
    env = {k: v for k, v in os.environ.items() if k != "CORRAL_URL"}
    raw = tmp_path / "bench.json"
    command = [sys.executable, "-m", "bench", "--quick", "--scale", "0.5", "--json", str(raw)]
    done = subprocess.run(
        [*command, "--only", "corral-redis,corral-sqlite"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    header = next(line for line in out.splitlines() if line.startswith("workload"))
    assert "corral/Redis" in header
    assert "corral/SQLite" in header
    for workload in WORKLOADS:
        rows = [line for line in out.splitlines() if line[:FIRST_COLUMN].rstrip() == workload.label]
        # one row in the throughput/latency table, one in the RSS table, and one in
        # the cost table for the workloads that process jobs
        costed = workload.kind in ("work", "manual")
        assert len(rows) == (3 if costed else 2), (workload.label, out)
        assert "failed" not in rows[0], rows[0]
        assert "skipped" not in rows[0], rows[0]
    assert raw.is_file()
    # the cost row: Redis script µs / Redis CPU µs / worker CPU µs for corral/Redis,
    # only the worker's CPU for corral/SQLite (no Redis there)
    c16 = next(w for w in WORKLOADS if w.key == "c16")
    cost = [line for line in out.splitlines() if line[:FIRST_COLUMN].rstrip() == c16.label][1]
    assert re.search(r"\d+ / \d+ / \d+ +- / - / \d+$", cost), cost


def test_loop_uvloop_runs_the_drivers_on_uvloop(tmp_path: Path) -> None:
    require_uvloop()
    env = {k: v for k, v in os.environ.items() if k != "CORRAL_URL"}
    raw = tmp_path / "bench.json"
    runs = {}
    for loop in ("uvloop", "asyncio"):
        done = subprocess.run(
            [sys.executable, "-m", "bench", "--quick", "--only", "corral-sqlite",
             "--workloads", "c1", "--loop", loop, "--json", str(raw)],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert f"event loop of the Python drivers: {loop}" in done.stdout
        cell = json.loads(raw.read_text())["comparison"]["corral-sqlite/c1"]
        runs[loop] = [run["event_loop"] for run in cell["runs"]]
    assert runs == {"uvloop": ["uvloop"], "asyncio": ["asyncio"]}


def test_the_sibling_cost_measurement_runs_on_both_backends(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        service_missing("redis-server is not on PATH (apt-get install -y redis-server)")
    env = {k: v for k, v in os.environ.items() if k != "CORRAL_URL"}
    command = [sys.executable, "-m", "bench", "--quick", "--workloads", "none"]
    done = subprocess.run(
        [*command, "--sibling-cost", "200", "--only", "corral-redis,corral-sqlite"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ratios = [line for line in done.stdout.splitlines() if "big / 10" in line]
    assert len(ratios) == 2, done.stdout


def test_quick_cpu_bench_prints_corrals_rows(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        service_missing("redis-server is not on PATH (apt-get install -y redis-server)")
    done = subprocess.run(
        [sys.executable, "-m", "bench.cpu", "--quick", "--jobs", "6", "--ms", "5",
         "--only", "corral-sqlite", "--boundary", "40"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "processes=2" in out
    assert "failed" not in out, out
    assert "boundary" in out
