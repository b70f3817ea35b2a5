"""``python -m bench.dashboard``: how fast the dashboard's pages answer on a big queue.

Fills one queue with JOBS jobs (default 1,000,000: waiting, plus a few hundred
completed, failed and delayed ones beside them), starts ``corral dashboard`` as
a program on a free loopback port, and times each page's API requests from a
client in this process over HTTP: ROUNDS requests each, after two untimed ones,
reported as median and p95 in ms. On each of corral's backends (a temporary
SQLite file; a private ``redis-server`` without persistence).

```sh
.venv/bin/python -m bench.dashboard                       # 1,000,000 jobs, both backends
.venv/bin/python -m bench.dashboard --jobs 100000 --backends sqlite
```

Filling takes a few minutes per backend at 1,000,000 jobs (it is not timed).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from bench.harness import free_port, redis_server

QUEUE = "big"
BATCH = 5000
PAD = "x" * 75

PAGES: list[tuple[str, str, dict[str, str]]] = [
    ("overview", "/api/queues", {}),
    ("queue summary", "/api/queue", {"queue": QUEUE}),
    ("waiting, first page", "/api/jobs", {"queue": QUEUE, "state": "waiting"}),
    ("waiting, a middle page", "/api/jobs", {"queue": QUEUE, "state": "waiting", "start": "MID"}),
    ("waiting, last page", "/api/jobs", {"queue": QUEUE, "state": "waiting", "start": "LAST"}),
    ("failed, first page", "/api/jobs", {"queue": QUEUE, "state": "failed"}),
    ("completed, first page", "/api/jobs", {"queue": QUEUE, "state": "completed"}),
    ("a failed job", "/api/job", {"queue": QUEUE, "id": "FAILED"}),
    ("a waiting job", "/api/job", {"queue": QUEUE, "id": "MID_ID"}),
    ("search by id", "/api/jobs", {"queue": QUEUE, "state": "waiting", "search": "MID_ID"}),
    ("search by name", "/api/jobs", {"queue": QUEUE, "state": "waiting", "search": "nomatch"}),
    ("/metrics", "/metrics", {}),
]


async def fill(url: str, jobs: int) -> str:
    """Put ``jobs`` jobs in the queue; returns the id of a failed one."""
    from corral import Queue, Worker

    finished = min(300, jobs // 10)
    async with Queue(QUEUE, url=url) as queue:
        # The finished ones first, so the waiting jobs' ids run from finished + 1 on.
        await queue.add_bulk(
            [{"name": "done", "data": {"i": i, "pad": PAD}} for i in range(finished * 2)]
        )
        failed_id = ""
        async with Worker(QUEUE, url=url, drain_delay=0.1) as worker:
            for i in range(finished * 2):
                job = await worker.get_next_job("bench", block=False)
                assert job is not None
                if i % 2:
                    await job.move_to_failed(ValueError("declined"), "bench")
                    failed_id = job.id
                else:
                    await job.move_to_completed({"ok": i}, "bench", fetch_next=False)
        await queue.add_bulk([{"name": "later", "delay": 3600} for _ in range(finished)])
        started = time.monotonic()
        added = 0
        while added < jobs:
            size = min(BATCH, jobs - added)
            await queue.add_bulk(
                [{"name": "work", "data": {"i": added + i, "pad": PAD}} for i in range(size)]
            )
            added += size
            if added % 100_000 == 0:
                rate = added / (time.monotonic() - started)
                print(f"  filled {added:,} ({rate:,.0f} jobs/s)", file=sys.stderr, flush=True)
    return failed_id


def serve(url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "corral", "dashboard", "--url", url, "--port", str(port),
         "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/api/config", timeout=2)
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("corral dashboard did not start")


def measure(base: str, jobs: int, failed_id: str, rounds: int) -> list[tuple[str, float, float]]:
    finished = min(300, jobs // 10)
    first_waiting = finished * 3 + 1
    values = {
        "MID": str(jobs // 2),
        "LAST": str(jobs - 25),
        "FAILED": failed_id,
        "MID_ID": str(first_waiting + jobs // 2),
    }
    rows = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for label, path, params in PAGES:
            sent = {k: values.get(v, v) for k, v in params.items()}
            times = []
            for i in range(rounds + 2):
                started = time.perf_counter()
                reply = client.get(path, params=sent)
                elapsed = (time.perf_counter() - started) * 1000
                if reply.status_code != 200:
                    raise SystemExit(f"{label}: {reply.status_code} {reply.text[:200]}")
                if i >= 2:
                    times.append(elapsed)
            times.sort()
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            rows.append((label, statistics.median(times), p95))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__)
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs in the queue (1,000,000)")
    parser.add_argument("--rounds", type=int, default=20, help="timed requests per page (20)")
    parser.add_argument("--backends", default="sqlite,redis", help="sqlite,redis")
    args = parser.parse_args(argv)
    results: dict[str, list[tuple[str, float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="corral-bench-dash-") as tmp:
        for backend in args.backends.split(","):
            print(f"{backend}: filling {args.jobs:,} jobs", file=sys.stderr, flush=True)
            if backend == "sqlite":
                url = f"sqlite:///{Path(tmp) / 'big.db'}"
                failed_id = asyncio.run(fill(url, args.jobs))
                proc, base = serve(url)
                try:
                    results[backend] = measure(base, args.jobs, failed_id, args.rounds)
                finally:
                    proc.terminate()
                    proc.wait()
            elif backend == "redis":
                with redis_server(Path(tmp)) as url:
                    failed_id = asyncio.run(fill(url, args.jobs))
                    proc, base = serve(url)
                    try:
                        results[backend] = measure(base, args.jobs, failed_id, args.rounds)
                    finally:
                        proc.terminate()
                        proc.wait()
            else:
                raise SystemExit(f"unknown backend {backend!r}: sqlite or redis")
    print(f"dashboard pages on a queue of {args.jobs:,} jobs, {args.rounds} requests each, ms")
    names = list(results)
    print(f"{'page':<26}" + "".join(f"{n + ' median':>16}{n + ' p95':>13}" for n in names))
    for i, (label, _path, _params) in enumerate(PAGES):
        cells = "".join(f"{results[n][i][1]:>16.1f}{results[n][i][2]:>13.1f}" for n in names)
        print(f"{label:<26}{cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
