"""corral on the Redis deployments it supports, side by side (``--deployments``).

The same corral workloads on one Redis server through corral's own client
(``redis://``), on a Sentinel-managed primary through redis-py
(``redis+sentinel://``: the *same* server as the first column, so the two
columns compare the clients), and on a Redis Cluster of 3 primaries + 3
replicas through redis-py (``redis+cluster://``). The servers are started here
on loopback ports (``tests/deployments.py`` does it for the tests too) and
stopped at the end. Queue names are braced, so each queue is one Cluster slot.

Each case runs in its own driver processes, like the main comparison; the
columns take turns in an order rotated every round; the table shows the median
rate over the rounds and the ratio to the first column.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from bench.harness import (
    CONTENDERS,
    WORKLOADS,
    Contender,
    DriverError,
    Settings,
    progress,
    run_driver,
)

__all__ = ["DEPLOYMENT_WORKLOADS", "run_deployments"]

DEPLOYMENT_WORKLOADS = ("add-one", "add-bulk", "c16")
"""What is measured on each deployment."""
CORRAL = next(c for c in CONTENDERS if c.key == "corral-redis")


def _case(
    contender: Contender, workload_key: str, url: str, queue: str, settings: Settings, workdir: Path
) -> float:
    workload = next(w for w in WORKLOADS if w.key == workload_key)
    n = settings.n(workload)
    base: dict[str, Any] = {"url": url, "queue": queue, "batch": settings.batch}
    timeout = settings.timeout(n)
    if workload.kind in ("add-one", "add-bulk"):
        result = run_driver(contender, {**base, "mode": workload.kind, "n": n}, workdir, timeout)
        return n / float(result["elapsed"])
    run_driver(contender, {**base, "mode": "fill", "n": n}, workdir, timeout)
    spec = {**base, "mode": workload.kind, "n": n, "concurrency": workload.concurrency}
    result = run_driver(contender, spec, workdir, timeout)
    return n / float(result["elapsed"])


def run_deployments(settings: Settings, workdir: Path) -> str:
    """Measure :data:`DEPLOYMENT_WORKLOADS` on each deployment; return the table."""
    from tests.deployments import start_cluster, start_sentinel_group

    cluster = start_cluster(workdir / "cluster")
    try:
        group = start_sentinel_group(workdir / "sentinel")
        try:
            primary = group.primary_port()
            columns = [
                ("one server (corral)", f"redis://127.0.0.1:{primary}/0"),
                ("Sentinel (redis-py)", group.url()),
                ("Cluster (redis-py)", cluster.url()),
            ]
            rates: dict[tuple[str, str], list[float]] = {}
            problems: dict[tuple[str, str], str] = {}
            for round_no in range(settings.rounds):
                shift = round_no % len(columns)
                order = columns[shift:] + columns[:shift]
                for workload_key in DEPLOYMENT_WORKLOADS:
                    for label, url in order:
                        queue = "{" + f"dep-{workload_key}-{round_no}" + "}"
                        progress(f"deployments round {round_no + 1}: {workload_key} on {label}")
                        try:
                            rate = _case(CORRAL, workload_key, url, queue, settings, workdir)
                        except DriverError as exc:
                            problems[(workload_key, label)] = str(exc).splitlines()[0][:80]
                            continue
                        rates.setdefault((workload_key, label), []).append(rate)
        finally:
            group.stop()
    finally:
        cluster.stop()
    return _table(columns, rates, problems, settings)


def _table(
    columns: list[tuple[str, str]],
    rates: dict[tuple[str, str], list[float]],
    problems: dict[tuple[str, str], str],
    settings: Settings,
) -> str:
    labels = [label for label, _ in columns]
    lines = [
        f"corral on each Redis deployment (jobs/s, median of {settings.rounds} round(s); "
        f"x = ratio to {labels[0]})",
        f"{'workload':<24}" + "".join(f"{label:>28}" for label in labels),
    ]
    for workload_key in DEPLOYMENT_WORKLOADS:
        workload = next(w for w in WORKLOADS if w.key == workload_key)
        base = rates.get((workload_key, labels[0]))
        base_rate = statistics.median(base) if base else None
        cells = []
        for label in labels:
            values = rates.get((workload_key, label))
            if not values:
                cells.append(f"{'failed':>28}")
                continue
            rate = statistics.median(values)
            ratio = f" ({rate / base_rate:.2f}x)" if base_rate else ""
            cells.append(f"{f'{rate:,.0f}{ratio}':>28}")
        lines.append(f"{workload.label:<24}" + "".join(cells))
    for (workload_key, label), problem in sorted(problems.items()):
        lines.append(f"  {workload_key} on {label}: {problem}")
    return "\n".join(lines)
