"""CPU-bound jobs: corral's process workers against Celery prefork and RQ.

``python -m bench.cpu`` starts a private ``redis-server`` (as ``python -m bench``
does), picks a loop length ``k`` that takes about 20 ms on this machine, and then,
for several rounds in a rotated order, runs the same N jobs of that loop with:

- corral (SQLite and Redis): in the worker process (threads; the GIL lets one run
  at a time), and with ``processes`` = 1, 2 and the machine's core count;
- Celery (Redis broker, ``--pool prefork``) with ``-c`` = the same counts;
- RQ (``rq worker-pool -n`` the same counts; each RQ worker forks per job).

Every job stamps its start and end on a Redis list; the time measured is from the
first job's start to the last job's end, so no contender's start-up is counted.
corral's pool start-up (worker start to its first job) is shown on its own.

``--boundary`` also measures what crossing the process boundary costs: N no-op
jobs with concurrency 16, in the worker process and with ``processes=2``, on each
corral backend; the difference per job is the boundary's cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis

from bench.cpu_jobs import STAMPS, burn
from bench.harness import redis_server

REPO = Path(__file__).resolve().parents[1]


def calibrate(target_ms: float = 20.0) -> int:
    """The loop length that takes ``target_ms`` here (best of a few tries)."""
    k = 10_000
    while True:
        started = time.perf_counter()
        burn(k)
        took = (time.perf_counter() - started) * 1000
        if took > 5:
            break
        k *= 2
    best = min(_time_burn(k) for _ in range(5))
    return max(1, round(k * target_ms / best))


def _time_burn(k: int) -> float:
    started = time.perf_counter()
    burn(k)
    return (time.perf_counter() - started) * 1000


# -- the corral driver (its own process) ------------------------------------------------------


async def corral_case(spec: dict[str, Any]) -> dict[str, Any]:
    from corral import Queue, Worker

    url, n = spec["url"], spec["n"]
    queue = Queue("bench-cpu", url=url)
    if spec["job"] == "burn":
        data = [{"k": spec["k"]} for _ in range(n)]
        processor = "bench.cpu_jobs:corral_burn"
    else:
        data = [{"i": i, "pad": "x" * 80} for i in range(n)]
        processor = "bench.cpu_jobs:noop"
    for start in range(0, n, 500):
        await queue.add_bulk(
            [
                {"name": "job", "data": d, "remove_on_complete": True}
                for d in data[start : start + 500]
            ]
        )
    await queue.close()
    worker = Worker(
        "bench-cpu", processor, url=url, processes=spec["processes"],
        concurrency=spec["concurrency"],
    )  # fmt: skip
    done = 0
    first: float | None = None
    finished = asyncio.Event()

    def active(job: Any) -> None:
        nonlocal first
        if first is None:
            first = time.perf_counter()

    def completed(job: Any, result: Any) -> None:
        nonlocal done
        done += 1
        if done >= n:
            finished.set()

    worker.on("active", active)
    worker.on("completed", completed)
    started = time.perf_counter()
    running = asyncio.create_task(worker.run())
    await finished.wait()
    ended = time.perf_counter()
    await worker.close()
    await running
    assert first is not None
    return {"start_s": first - started, "elapsed": ended - first}


# -- the harness --------------------------------------------------------------------------------


def _env(redis_url: str) -> dict[str, str]:
    return {**os.environ, "BENCH_REDIS_URL": redis_url, "PYTHONPATH": str(REPO)}


def _stamp_window(client: redis.Redis, n: int) -> float:
    stamps = [tuple(map(float, raw.split())) for raw in client.lrange(STAMPS, 0, -1)]
    assert len(stamps) >= n, len(stamps)
    return max(end for _, end in stamps) - min(start for start, _ in stamps)


def _wait_stamps(
    client: redis.Redis, n: int, proc: subprocess.Popen[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while client.llen(STAMPS) < n:
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited with code {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.02)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_corral(
    redis_url: str, store_url: str, spec: dict[str, Any], timeout: float
) -> dict[str, Any]:
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    spec = {**spec, "url": store_url}
    out = subprocess.run(
        [sys.executable, "-m", "bench.cpu", "--case", json.dumps(spec)],
        cwd=REPO, env=_env(redis_url), capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr else "failed")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if spec["job"] == "burn":
        result["elapsed"] = _stamp_window(client, spec["n"])
    return result


def run_celery(
    redis_url: str, n: int, k: int, procs: int, workdir: Path, timeout: float
) -> dict[str, Any]:
    os.environ["BENCH_REDIS_URL"] = redis_url
    from bench.cpu_celery import app

    app.conf.broker_url = redis_url
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    with app.connection_for_write() as conn:
        for _ in range(n):
            app.send_task("burn", args=[k], connection=conn)
    celery = shutil.which("celery", path=str(Path(sys.executable).parent)) or "celery"
    proc = subprocess.Popen(
        [celery, "-A", "bench.cpu_celery", "worker", "--pool", "prefork", "-c", str(procs),
         "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "WARNING"],
        cwd=workdir, env=_env(redis_url), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_stamps(client, n, proc, timeout)
    finally:
        _stop(proc)
    return {"elapsed": _stamp_window(client, n)}


def run_rq(
    redis_url: str, n: int, k: int, procs: int, workdir: Path, timeout: float
) -> dict[str, Any]:
    from rq import Queue

    from bench.cpu_jobs import rq_burn

    client = redis.Redis.from_url(redis_url)
    client.flushall()
    queue = Queue("bench-cpu", connection=client)
    queue.enqueue_many([Queue.prepare_data(rq_burn, args=(k,), result_ttl=0) for _ in range(n)])
    rq_exe = shutil.which("rq", path=str(Path(sys.executable).parent)) or "rq"
    proc = subprocess.Popen(
        [rq_exe, "worker-pool", "-n", str(procs), "-u", redis_url, "bench-cpu"],
        cwd=workdir, env=_env(redis_url), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_stamps(client, n, proc, timeout)
    finally:
        _stop(proc)
    return {"elapsed": _stamp_window(client, n)}


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu", description=__doc__.split("\n")[0])
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, default=200, help="CPU-bound jobs per case (200)")
    parser.add_argument("--ms", type=float, default=20.0, help="milliseconds per job (20)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (3); medians are shown")
    parser.add_argument(
        "--only", default="corral-sqlite,corral-redis,celery,rq",
        help="contenders: corral-sqlite, corral-redis, celery, rq (default all)",
    )  # fmt: skip
    parser.add_argument(
        "--boundary", type=int, nargs="?", const=3000, default=0, metavar="JOBS",
        help="also the per-job cost of the process boundary at c16 (default 3,000 no-op jobs)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="tiny N, one round")
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(asyncio.run(corral_case(json.loads(args.case)))))
        return 0
    if args.quick:
        args.jobs, args.rounds = min(args.jobs, 20), 1
        args.boundary = min(args.boundary, 200) if args.boundary else 0
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    cores = os.cpu_count() or 1
    counts = sorted({1, 2, cores})
    k = calibrate(args.ms)
    timeout = max(120.0, args.jobs * args.ms / 1000 * 5)
    with tempfile.TemporaryDirectory(prefix="corral-bench-cpu-") as tmp:
        workdir = Path(tmp)
        with redis_server(workdir) as redis_url:
            print(
                f"CPU-bound: {args.jobs} jobs of ~{args.ms:g} ms (k={k}) on {cores} cores, "
                f"{args.rounds} round(s); load average {os.getloadavg()[0]:.2f}"
            )
            cases: list[tuple[str, str, Any]] = []
            for name in only:
                if name.startswith("corral-"):
                    cases.append((name, "threads", None))
                    cases.extend((name, f"processes={p}", p) for p in counts)
                elif name == "celery":
                    cases.extend((name, f"prefork -c {p}", p) for p in counts)
                elif name == "rq":
                    cases.extend((name, f"worker-pool -n {p}", p) for p in counts)
            results: dict[tuple[str, str], list[float]] = {}
            starts: dict[tuple[str, str], list[float]] = {}
            errors: dict[tuple[str, str], str] = {}
            for round_no in range(args.rounds):
                shift = round_no % max(1, len(cases))
                for name, label, p in cases[shift:] + cases[:shift]:
                    key = (name, label)
                    try:
                        if name.startswith("corral-"):
                            db = workdir / f"cpu-{round_no}-{label.replace('=', '')}.db"
                            store = redis_url if name == "corral-redis" else f"sqlite:///{db}"
                            spec = {
                                "job": "burn", "n": args.jobs, "k": k, "processes": p,
                                "concurrency": 2 if p is None else p,
                            }  # fmt: skip
                            run = run_corral(redis_url, store, spec, timeout)
                            if p is not None:
                                starts.setdefault(key, []).append(run["start_s"])
                        elif name == "celery":
                            run = run_celery(redis_url, args.jobs, k, p, workdir, timeout)
                        else:
                            run = run_rq(redis_url, args.jobs, k, p, workdir, timeout)
                    except Exception as error:
                        errors[key] = str(error)
                        continue
                    results.setdefault(key, []).append(args.jobs / run["elapsed"])
                    print(
                        f"  round {round_no + 1}: {name} {label}: {args.jobs / run['elapsed']:.0f} jobs/s",
                        file=sys.stderr,
                    )
            print()
            print(f"{'contender':<16}{'how':<22}{'jobs/s':>9}{'x one':>8}{'start-up':>10}")
            for name in only:
                ones = [
                    v for (n_, label), v in results.items() if n_ == name and label.endswith("1")
                ]
                one = _median(ones[0]) if ones else float("nan")
                for (n_, label), values in results.items():
                    if n_ != name:
                        continue
                    rate = _median(values)
                    start = starts.get((n_, label))
                    started = f"{_median(start):.2f}s" if start else ""
                    print(f"{name:<16}{label:<22}{rate:>9.0f}{rate / one:>7.2f}x{started:>10}")
            for (name, label), error in errors.items():
                print(f"{name} {label}: failed: {error}")
            if args.boundary:
                print()
                print(f"Process boundary: {args.boundary} no-op jobs, concurrency 16")
                print(
                    f"{'backend':<16}{'in-process µs/job':>18}{'processes=2 µs/job':>20}{'boundary µs/job':>17}"
                )
                for name in [n for n in only if n.startswith("corral-")]:
                    per: dict[Any, list[float]] = {None: [], 2: []}
                    for round_no in range(args.rounds):
                        for p in (None, 2):
                            db = workdir / f"noop-{round_no}-{p}.db"
                            store = redis_url if name == "corral-redis" else f"sqlite:///{db}"
                            spec = {
                                "job": "noop",
                                "n": args.boundary,
                                "processes": p,
                                "concurrency": 16,
                            }
                            run = run_corral(redis_url, store, spec, timeout)
                            per[p].append(run["elapsed"] / args.boundary * 1e6)
                    inside, outside = _median(per[None]), _median(per[2])
                    print(f"{name:<16}{inside:>18.0f}{outside:>20.0f}{outside - inside:>17.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
