"""Several processes on one SQLite file: exclusive locks, crash safety, wake-ups.

The child processes run functions of this module through
``python -c "from tests.backends.test_sqlite_processes import …"``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

from corral.backends.base import Completed, FetchRequest, JobState, NewJob
from corral.backends.sqlite import SQLiteBackend
from corral.errors import LockError

ROOT = Path(__file__).resolve().parents[2]
LOCK_MS = 500
OVERSLEEP_S = 0.7  # longer than the lock: the job stalls and its completion is refused


def now_ms() -> int:
    return int(time.time() * 1000)


def spawn(function: str, *args: str) -> subprocess.Popen[str]:
    code = f"import sys; from tests.backends.test_sqlite_processes import {function}; {function}(*sys.argv[1:])"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


# -- child processes ---------------------------------------------------------------


def worker_main(url: str, queue: str, total: str, out: str) -> None:
    """Fetch and complete jobs until ``total`` are completed; log every attempt."""
    asyncio.run(_worker(url, queue, int(total), Path(out)))


async def _worker(url: str, queue: str, total: int, out: Path) -> None:
    backend = SQLiteBackend(url)
    rng = random.Random(os.getpid())
    fetches = 0
    with out.open("w") as log:
        while True:
            token = uuid.uuid4().hex
            fetched_at = now_ms()
            got = await backend.move_to_active(queue, FetchRequest(token, LOCK_MS), fetched_at)
            if got.job is None:
                counts = await backend.get_counts(queue, [JobState.COMPLETED])
                if counts[JobState.COMPLETED] >= total:
                    break
                await backend.wait_for_job(queue, 100)
                continue
            fetches += 1
            await asyncio.sleep(OVERSLEEP_S if fetches % 40 == 7 else rng.random() * 0.003)
            finished_at = now_ms()
            try:
                await backend.move_to_finished(
                    queue, got.job.id, token, Completed("null"), finished_at
                )
                ok = True
            except LockError:
                ok = False
            record = [got.job.id, token, fetched_at, finished_at, ok]
            log.write(json.dumps(record) + "\n")
            log.flush()
    await backend.close()


def adder_main(url: str, queue: str) -> None:
    """Add jobs one transaction at a time, printing each id once it is committed."""
    asyncio.run(_adder(url, queue))


async def _adder(url: str, queue: str) -> None:
    backend = SQLiteBackend(url)
    i = 0
    while True:
        i += 1
        (job_id,) = await backend.add_jobs(queue, [NewJob("k", json.dumps(i), "{}", now_ms())])
        print(job_id, flush=True)


def waiter_main(url: str, queue: str) -> None:
    """Block in wait_for_job (30 s) and print what it returned."""
    asyncio.run(_waiter(url, queue))


async def _waiter(url: str, queue: str) -> None:
    backend = SQLiteBackend(url)
    await backend.get_counts(queue, [JobState.WAITING])  # open the database first
    print("ready", flush=True)
    result = await backend.wait_for_job(queue, 30_000)
    print(json.dumps(result), flush=True)
    await backend.close()


# -- tests ------------------------------------------------------------------------


async def test_workers_in_several_processes_never_share_a_job(
    sqlite_url: str, queue_name: str, tmp_path: Path
) -> None:
    total = 300
    backend = SQLiteBackend(sqlite_url)
    await backend.add_jobs(queue_name, [NewJob("w", "{}", "{}", now_ms()) for _ in range(total)])
    logs = [tmp_path / f"worker-{i}.jsonl" for i in range(3)]
    procs = [spawn("worker_main", sqlite_url, queue_name, str(total), str(p)) for p in logs]
    try:
        deadline = time.monotonic() + 120
        while any(p.poll() is None for p in procs):
            assert time.monotonic() < deadline, "workers did not finish"
            # The stalled checker, with a clock 100 ms behind, so a job is only
            # requeued well after its lock expired for every process.
            await backend.move_stalled_to_wait(queue_name, 1000, 100, now_ms() - 100)
            await asyncio.sleep(0.1)
        assert [p.returncode for p in procs] == [0, 0, 0]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    records: list[tuple[str, str, int, int, bool]] = [
        tuple(json.loads(line)) for path in logs for line in path.read_text().splitlines()
    ]
    assert all(path.read_text() for path in logs), "a worker never got a job"
    by_job: dict[str, list[tuple[str, str, int, int, bool]]] = {}
    for record in records:
        by_job.setdefault(record[0], []).append(record)
    assert sorted(by_job, key=int) == [str(i) for i in range(1, total + 1)], "a job was lost"
    assert len({r[1] for r in records}) == len(records), "a token was used twice"
    for job_id, attempts in by_job.items():
        assert sum(1 for r in attempts if r[4]) == 1, f"job {job_id} not completed exactly once"
        attempts.sort(key=lambda r: r[2])
        for held, later in itertools.pairwise(attempts):
            # a token holds the job until it completes it, or until its lock expires
            held_until = held[3] if held[4] else held[2] + LOCK_MS
            assert held_until <= later[2], f"job {job_id} held by two tokens: {held} {later}"
    assert any(not r[4] for r in records), "no job stalled: the test lost its point"
    counts = await backend.get_counts(queue_name, [JobState.COMPLETED, JobState.ACTIVE])
    assert counts == {JobState.COMPLETED: total, JobState.ACTIVE: 0}
    await backend.close()


async def test_sigkill_leaves_a_valid_database_with_every_committed_job(
    sqlite_url: str, queue_name: str
) -> None:
    proc = spawn("adder_main", sqlite_url, queue_name)
    committed: list[str] = []
    try:
        assert proc.stdout is not None
        while len(committed) < 300:
            line = proc.stdout.readline()
            assert line, "the adder exited early"
            committed.append(line.strip())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        committed += [line.strip() for line in proc.stdout.read().splitlines() if line.strip()]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    path = sqlite_url[len("sqlite:///") :]
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    backend = SQLiteBackend(sqlite_url)
    try:
        for job_id in committed:
            assert await backend.get_state(queue_name, job_id) is JobState.WAITING
        ids = await backend.add_jobs(queue_name, [NewJob("after", "{}", "{}", now_ms())])
        assert int(ids[0]) > len(committed)
    finally:
        await backend.close()


async def test_wait_for_job_wakes_when_another_process_adds(
    sqlite_url: str, queue_name: str
) -> None:
    backend = SQLiteBackend(sqlite_url)
    await backend.get_counts(queue_name, [JobState.WAITING])
    proc = spawn("waiter_main", sqlite_url, queue_name)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        await asyncio.sleep(0.3)
        added = time.monotonic()
        await backend.add_jobs(queue_name, [NewJob("x", "{}", "{}", now_ms())])
        line = await asyncio.to_thread(proc.stdout.readline)
        woke_after = time.monotonic() - added
        assert json.loads(line) == 0
        assert woke_after < 5, f"woke only after {woke_after:.1f}s of a 30 s wait"
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        await backend.close()
