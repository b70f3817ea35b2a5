"""What job schedulers cost a worker: ``python -m bench.scheduler_cost``.

For each corral backend (a fresh SQLite file; a private ``redis-server``):

* **fetch cost**: ``get_next_job`` on plain jobs with 0 and with 1,000 job
  schedulers defined (half cron, half ``every``, their runs far in the future),
  and the ratio. Schedulers live in their own structures and a fetch never reads
  them, so the ratio should be about 1;
* **iteration cost**: ``get_next_job`` of scheduler iterations (each fetch also
  adds that scheduler's next run), with 1,000 schedulers, against a plain fetch.

Each figure is the median µs per call over ``--rounds`` rounds of ``--calls``
calls. Not a test: numbers belong here, not in ``tests/``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.harness import flushall, redis_server
from corral import Queue, Worker

SCHEDULERS = 1000
_WARM_UP = 50


async def _define(queue: Queue, count: int, *, due_now: bool) -> None:
    for i in range(count):
        if due_now:
            await queue.upsert_job_scheduler(f"s{i}", every=3600)  # first run: now
        elif i % 2:
            await queue.upsert_job_scheduler(f"s{i}", cron="0 0 1 1 *", tz="Europe/Paris")
        else:
            await queue.upsert_job_scheduler(f"s{i}", every=86_400, start=time.time() + 86_400)


async def _fetch_us(url: str, schedulers: int, calls: int, *, iterations: bool) -> float:
    queue = Queue("bench-schedulers", url=url)
    worker = Worker("bench-schedulers", url=url)
    try:
        await _define(queue, schedulers, due_now=iterations)
        if not iterations:
            items = [{"name": "plain", "data": {"i": i}} for i in range(calls + _WARM_UP)]
            await queue.add_bulk(items)
            # Untimed: let the store settle after the many writes that defined the schedulers.
            for i in range(_WARM_UP):
                await worker.get_next_job(f"w{i}", block=False)
        start = time.perf_counter()
        for i in range(calls):
            job = await worker.get_next_job(f"t{i}", block=False)
            if job is None:
                raise RuntimeError("the queue ran dry")
        return (time.perf_counter() - start) / calls * 1e6
    finally:
        await worker.close()
        await queue.close()


async def _measure(url_for: object, rounds: int, calls: int) -> dict[str, float]:
    assert callable(url_for)
    cases = {
        "plain, 0 schedulers": (0, False),
        f"plain, {SCHEDULERS:,} schedulers": (SCHEDULERS, False),
    }
    cases[f"iterations, {SCHEDULERS:,} schedulers"] = (SCHEDULERS, True)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (count, iterations) in cases.items():
            calls_here = min(calls, count) if iterations else calls
            samples[name].append(
                await _fetch_us(url_for(), count, calls_here, iterations=iterations)
            )
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scheduler_cost", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="rounds (3)")
    parser.add_argument("--calls", type=int, default=500, help="fetches per round (500)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="corral-bench-") as tmp:
        workdir = Path(tmp)
        counter = iter(range(1_000_000))

        def sqlite_url() -> str:
            return f"sqlite:///{workdir}/case-{next(counter)}.db"

        results: dict[str, dict[str, float]] = {}
        results["corral/SQLite"] = asyncio.run(_measure(sqlite_url, args.rounds, args.calls))
        with redis_server(workdir) as redis_url:

            def fresh_redis() -> str:
                flushall(redis_url)
                return redis_url

            results["corral/Redis"] = asyncio.run(_measure(fresh_redis, args.rounds, args.calls))
    print(f"get_next_job µs per call (median of {args.rounds} rounds of {args.calls} calls):\n")
    for backend, rows in results.items():
        names = list(rows)
        for name in names:
            print(f"{backend:<15}{name:<34}{rows[name]:>8.0f}")
        ratio = rows[names[1]] / rows[names[0]]
        print(f"{backend:<15}{'1,000 / 0 schedulers':<34}{ratio:>7.2f}x\n")


if __name__ == "__main__":
    main()
