"""How long ``Queue.clean`` and ``Queue.retry_jobs`` take on many jobs, and whether
other clients of the store are held up meanwhile.

    python -m bench.maintenance [--jobs 100000] [--rounds 3] [--only redis,sqlite] [--verbose]

For each backend and round: N finished jobs (completed for ``clean``, failed for
``retry_jobs``) are written straight into the store in BullMQ's / corral's layout
(untimed; making them with real workers would take minutes), then the call is
timed while a *probe* client of the same store runs a tiny operation in a loop
on its own connection: on Redis a ``PING`` (a running script holds every client
of the server), on SQLite adding one job to another queue (a write, so it waits
for the write lock). The table shows the median over the rounds of the call's
seconds and of the probe's slowest answer, next to the time one batch takes:
the probe's slowest answer staying near one batch's time (not the whole call's)
is what "not blocked" means here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, cast

from redis.asyncio import Redis

from bench.harness import redis_server
from corral import Queue
from corral.backends.base import NewJob

__all__ = ["main"]

_OPTS = json.dumps({"attempts": 0})
VERBOSE = False
"""``--verbose``: also print each call's five slowest probe answers."""


async def _fill_redis(url: str, queue: str, n: int, state: str) -> None:
    raw = Redis.from_url(url, decode_responses=True)
    base = f"bull:{queue}:"
    now = int(time.time() * 1000) - 10 * n
    try:
        for start in range(0, n, 5000):
            pipe = raw.pipeline(transaction=False)
            members = {}
            for i in range(start + 1, min(start + 5000, n) + 1):
                fields: dict[str, str | int] = {
                    "name": "j", "data": '{"i":1}', "opts": _OPTS, "timestamp": now,
                    "processedOn": now, "finishedOn": now + i, "atm": 1, "ats": 1,
                    "delay": 0, "priority": 0,
                }  # fmt: skip
                if state == "failed":
                    fields |= {"failedReason": "boom", "stacktrace": "[]"}
                else:
                    fields["returnvalue"] = '"ok"'
                pipe.hset(base + str(i), mapping=cast(Any, fields))
                members[str(i)] = now + i
            pipe.zadd(base + state, members)
            await pipe.execute()
        await raw.set(base + "id", n)
    finally:
        await raw.aclose()


async def _fill_sqlite(url: str, path: Path, queue: str, n: int, state: str) -> None:
    async with Queue(queue, url=url) as q:
        now = int(time.time() * 1000) - 10 * n
        jobs = [NewJob("j", '{"i":1}', _OPTS, now) for _ in range(n)]
        for start in range(0, n, 10_000):
            await q.backend.add_jobs(q.name, jobs[start : start + 10_000])
    db = sqlite3.connect(path, isolation_level=None)
    result = "failed_reason = 'boom'" if state == "failed" else "return_value = '\"ok\"'"
    db.execute(
        f"UPDATE jobs SET state = ?, lane = ? + rowid, finished_on = ? + rowid, "
        f"processed_on = ?, attempts_made = 1, attempts_started = 1, {result}",
        (state, now, now, now),
    )
    db.close()


async def _probe(run: Callable[[], Awaitable[object]], stop: asyncio.Event) -> list[float]:
    waits: list[float] = []
    while not stop.is_set():
        started = time.perf_counter()
        await run()
        waits.append(time.perf_counter() - started)
        await asyncio.sleep(0.001)
    return waits


async def _one(backend: str, url: str, path: Path | None, n: int, what: str) -> dict[str, float]:
    queue = f"bench-{what}-{time.monotonic_ns()}"
    state = "completed" if what == "clean" else "failed"
    if backend == "redis":
        await _fill_redis(url, queue, n, state)
    else:
        assert path is not None
        await _fill_sqlite(url, path, queue, n, state)
    probe_queue = Queue(f"{queue}-probe", url=url)
    raw = Redis.from_url(url) if backend == "redis" else None
    probe_op: Callable[[], Awaitable[object]]
    if raw is not None:
        probe_op = raw.ping
    else:

        async def add_one() -> object:
            return await probe_queue.add("probe", {}, remove_on_complete=True)

        probe_op = add_one
    async with Queue(queue, url=url) as q:
        await probe_op()
        # One batch alone, on a copy of the same kind of data: what a probe may wait.
        stop = asyncio.Event()
        probing = asyncio.create_task(_probe(probe_op, stop))
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        if what == "clean":
            done = len(await q.clean("completed", grace=0))
        else:
            done = await q.retry_jobs("failed")
        seconds = time.perf_counter() - started
        stop.set()
        waits = await probing
        assert done == n, (what, done, n)
    await probe_queue.close()
    if raw is not None:
        await raw.aclose()
    waits.sort()
    if VERBOSE:
        print(f"    slowest probes (ms): {[round(w * 1000, 1) for w in waits[-5:]]}")
    return {
        "seconds": seconds,
        "probe_max_ms": waits[-1] * 1000 if waits else 0.0,
        "probe_p50_ms": statistics.median(waits) * 1000 if waits else 0.0,
        "probes": float(len(waits)),
        "per_batch_ms": seconds / max(1, -(-n // 1000)) * 1000,
    }


def _table(rows: Sequence[tuple[str, str, list[dict[str, float]]]], n: int) -> str:
    head = f"{'backend':8} {'call':11} {'jobs':>8} {'seconds':>8} {'per batch ms':>13}"
    head += f" {'probe p50 ms':>13} {'probe max ms':>13} {'probes':>7}"
    lines = [head]
    for backend, what, runs in rows:

        def med(key: str, runs: list[dict[str, float]] = runs) -> float:
            return statistics.median(r[key] for r in runs)

        lines.append(
            f"{backend:8} {what:11} {n:>8,} {med('seconds'):>8.2f} {med('per_batch_ms'):>13.1f}"
            f" {med('probe_p50_ms'):>13.2f} {med('probe_max_ms'):>13.1f} {med('probes'):>7.0f}"
        )
    return "\n".join(lines)


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def _run(backends: Sequence[str], n: int, rounds: int, workdir: Path) -> str:
    rows = []
    for backend in backends:
        for what in ("clean", "retry_jobs"):
            runs = []
            for r in range(rounds):
                if backend == "redis":
                    with redis_server(workdir) as url:
                        runs.append(await _one(backend, url, None, n, what))
                else:
                    path = workdir / f"bench-{what}-{r}.db"
                    runs.append(await _one(backend, f"sqlite:///{path}", path, n, what))
                    _remove_db(path)
                print(f"  {backend} {what} round {r + 1}: {runs[-1]['seconds']:.2f} s", flush=True)
            rows.append((backend, what, runs))
    return _table(rows, n)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the measurement and print its table."""
    parser = argparse.ArgumentParser(prog="python -m bench.maintenance", description=__doc__)
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs per call (100000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the median is shown (3)")
    parser.add_argument("--only", default="redis,sqlite", help="backends: redis,sqlite")
    parser.add_argument("--verbose", action="store_true", help="the slowest probe answers too")
    args = parser.parse_args(argv)
    global VERBOSE
    VERBOSE = args.verbose
    backends = [b for b in args.only.split(",") if b]
    with tempfile.TemporaryDirectory(prefix="corral-bench-") as tmp:
        print(asyncio.run(_run(backends, args.jobs, args.rounds, Path(tmp))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
