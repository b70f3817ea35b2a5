"""SQLiteBackend driven directly on a real database file: order, locks, retention,
stalled jobs, rate limits, pause, events, obliterate."""

from __future__ import annotations

import pytest

from corral.backends.base import (
    FetchRequest,
    NewJob,
)
from corral.backends.sqlite import SQLiteBackend
from corral.errors import (
    ConfigurationError,
)

T0 = 1_700_000_000_000
LOCK = 30_000


def job(name: str = "j", **kw: object) -> NewJob:
    return NewJob(name=name, data='{"n":1}', opts='{"attempts":0}', timestamp_ms=T0, **kw)  # type: ignore[arg-type]


def fetch(token: str = "t1", **kw: object) -> FetchRequest:
    return FetchRequest(token=token, lock_duration_ms=LOCK, **kw)  # type: ignore[arg-type]


async def drain_order(b: SQLiteBackend, q: str, now: int = T0) -> list[str]:
    order: list[str] = []
    while True:
        got = await b.move_to_active(q, fetch(), now)
        if got.job is None:
            return order
        order.append(got.job.name)


@pytest.mark.parametrize(
    "url", ["sqlite://relative.db", "sqlite:///", "postgres://x", "sqlite:///a.db?x=1"]
)
def test_bad_url_names_the_accepted_forms(url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"sqlite:///relative/path\.db"):
        SQLiteBackend(url)


async def test_constructor_does_no_io(tmp_path) -> None:
    path = tmp_path / "lazy.db"
    b = SQLiteBackend(f"sqlite:///{path}")
    assert not path.exists()
    await b.add_jobs("q", [job()])
    assert path.exists()
    await b.close()
    await b.close()  # idempotent


async def test_events_are_trimmed(backend, queue_name, monkeypatch) -> None:
    from corral.backends.sqlite import _tx

    monkeypatch.setattr(_tx, "MAX_EVENTS", 50)
    monkeypatch.setattr(_tx, "TRIM_EVERY", 20)
    for _ in range(10):
        await backend.add_jobs(queue_name, [job() for _ in range(20)])
    events = await backend.read_events(queue_name, "0", count=1000)
    assert 50 <= len(events) <= 50 + 40
    assert events[-1].fields == {"jobId": "200"}


async def test_memory_url_is_shared_in_process(queue_name) -> None:
    producer = SQLiteBackend("sqlite://:memory:")
    worker = SQLiteBackend("sqlite://:memory:")
    try:
        await producer.add_jobs(queue_name, [job("m")])
        got = await worker.move_to_active(queue_name, fetch(), T0)
        assert got.job is not None
        assert got.job.name == "m"
    finally:
        await producer.close()
        await worker.close()


async def test_wait_for_job_wakes_on_an_add_from_another_thread(sqlite_url, queue_name) -> None:
    import asyncio
    import threading

    waiting = SQLiteBackend(sqlite_url)
    waiter = asyncio.create_task(waiting.wait_for_job(queue_name, 20_000))
    await asyncio.sleep(0.05)

    def add_from_another_loop() -> None:
        async def add() -> None:
            other = SQLiteBackend(sqlite_url)
            await other.add_jobs(queue_name, [job()])
            await other.close()

        asyncio.run(add())

    thread = threading.Thread(target=add_from_another_loop)
    thread.start()
    assert await asyncio.wait_for(waiter, 5) == 0
    thread.join()
    await waiting.close()


async def test_waiting_does_not_burn_a_core(backend, queue_name) -> None:
    import time

    cpu, wall = time.process_time(), time.monotonic()
    assert await backend.wait_for_job(queue_name, 1000) is None
    assert await backend.read_events(queue_name, None, block_ms=500) == []
    assert time.monotonic() - wall >= 1.4
    assert time.process_time() - cpu < 0.75  # generous: polling is ~1% of a core


async def test_a_worker_that_died_is_not_listed_and_the_next_heartbeat_forgets_it(
    backend, queue_name, sqlite_url
) -> None:
    import sqlite3

    from corral.backends.base import WORKER_SEEN_TIMEOUT_MS, WorkerRecord

    def worker(worker_id: str, seen: int) -> WorkerRecord:
        return WorkerRecord(worker_id, worker_id, "host", 1, T0, seen)

    await backend.worker_seen(queue_name, worker("dead", T0), T0)
    later = T0 + WORKER_SEEN_TIMEOUT_MS + 1
    # Listing is a read: the dead worker is left out, not deleted.
    assert await backend.get_workers(queue_name, later) == []
    path = sqlite_url.removeprefix("sqlite:///").partition("?")[0]
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT count(*) FROM workers").fetchone() == (1,)
    await backend.worker_seen(queue_name, worker("alive", later), later)
    listed = await backend.get_workers(queue_name, later)
    assert [w.id for w in listed] == ["alive"]
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT worker_id FROM workers").fetchall() == [("alive",)]
