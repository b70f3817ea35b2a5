"""The protocol between the harness and a contender's driver process.

The harness runs ``python -m bench.peers.<driver> '<json spec>'`` (or
``node bench/node/driver.mjs '<json spec>'``). The driver prints one JSON object
per line on stdout:

* ``{"ready": true}``: only in ``latency-worker`` mode, once its worker is idle
  and waiting for jobs;
* ``{"result": {"elapsed": s, "rss_kb": n, ...}}``: at the end. ``elapsed`` is the
  measured time in seconds, ``rss_kb`` the driver process's own peak resident set
  (``VmHWM``), ``cpu_s`` the CPU seconds (user + system) it used while measured
  (a driver that does not time it itself gets its whole mode's), ``latencies``
  (ms) in ``latency-worker`` mode, ``samples`` in ``memory`` mode.

Every driver uses the same payload and the same no-op job: the job reads its
payload's ``i`` field (any real job reads its data) and returns nothing.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Handler",
    "Spec",
    "cpu_s",
    "emit",
    "pace",
    "payload",
    "peak_rss_kb",
    "read_status_kb",
    "run",
    "wall_ms",
]

PAD = "corral-benchmark-payload-" * 3
"""Makes the payload ~100 bytes of JSON, like a small real job."""


def wall_ms() -> float:
    """The host's wall clock in milliseconds (the clock Node's
    ``performance.timeOrigin + performance.now()`` reads too)."""
    return time.time() * 1000.0


def payload(i: int) -> dict[str, Any]:
    """The job payload every contender adds: ``t`` is the wall clock just before
    the add, read back by the latency worker."""
    return {"i": i, "t": wall_ms(), "pad": PAD}


def read_status_kb(field: str, pid: int | str = "self") -> int:
    """A ``kB`` field of ``/proc/<pid>/status`` (0 where there is none)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


def cpu_s() -> float:
    """CPU seconds (user + system, every thread) this process has used so far, to the
    microsecond (``os.times`` counts in clock ticks: 10 ms, too coarse for a run)."""
    return time.process_time()


def peak_rss_kb() -> int:
    """This process's peak resident set size (``VmHWM``), in kB."""
    return read_status_kb("VmHWM")


def emit(message: Mapping[str, Any]) -> None:
    """Send one protocol line to the harness."""
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


@dataclass(frozen=True)
class Spec:
    """What the harness asks a driver to do."""

    mode: str
    url: str
    queue: str
    n: int
    concurrency: int = 1
    batch: int = 500
    gap_ms: float = 15.0
    sample_every: int = 0
    waiting: int = 0
    cycles: int = 3
    metrics: bool | str = False
    """corral only: record metrics: "bullmq" (``Worker(metrics=)``'s per-minute
    counts), "prometheus" (``WorkerMetrics``), "both" (or True), or none (False)."""

    @classmethod
    def parse(cls, text: str) -> Spec:
        raw = json.loads(text)
        return cls(**{k: v for k, v in raw.items() if k in cls.__dataclass_fields__})


EVENT_LOOP_ENV = "BENCH_EVENT_LOOP"
"""Set to "uvloop" by ``python -m bench --loop uvloop``: the drivers run on uvloop."""

Handler = Callable[[Spec], Awaitable[dict[str, Any]]] | Callable[[Spec], dict[str, Any]]


def run(handlers: Mapping[str, Handler]) -> None:
    """Run the mode the harness asked for and print its result."""
    spec = Spec.parse(sys.argv[1])
    handler = handlers.get(spec.mode)
    if handler is None:
        emit({"skipped": f"this driver has no {spec.mode!r} mode"})
        return
    cpu_before = cpu_s()
    outcome = handler(spec)
    if inspect.isawaitable(outcome):
        factory = asyncio.new_event_loop
        if os.environ.get(EVENT_LOOP_ENV) == "uvloop":
            import uvloop

            factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            outcome = runner.run(_await(outcome))
            loop = runner.get_loop()
        result = dict(outcome)
        result["event_loop"] = type(loop).__module__.split(".")[0]  # what it ran on
    else:
        result = dict(outcome)
    result.setdefault("cpu_s", cpu_s() - cpu_before)
    result["rss_kb"] = peak_rss_kb()
    emit({"result": result})


async def _await(awaitable: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    return await awaitable


async def pace(gap_ms: float) -> None:
    """The pause between two adds of the latency producer: the worker is idle again."""
    await asyncio.sleep(gap_ms / 1000.0)
