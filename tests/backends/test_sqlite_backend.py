"""SQLiteBackend driven directly on a real database file: order, locks, retention,
stalled jobs, rate limits, pause, events, obliterate."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from corral.backends.base import (
    RATE_LIMIT_SENTINEL,
    STALLED_LIMIT_REASON,
    Backend,
    Completed,
    Failed,
    FetchRequest,
    JobState,
    KeepJobs,
    Limiter,
    NewJob,
    Retry,
)
from corral.backends.sqlite import SQLiteBackend
from corral.errors import (
    ConfigurationError,
    ErrorCode,
    JobNotFoundError,
    JobStateError,
    LockMismatchError,
    MissingLockError,
    ObliterateError,
)

T0 = 1_700_000_000_000
LOCK = 30_000


@pytest.fixture
async def backend(sqlite_url: str) -> AsyncIterator[SQLiteBackend]:
    b = SQLiteBackend(sqlite_url)
    yield b
    await b.close()


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


def test_is_a_backend(sqlite_url: str) -> None:
    assert isinstance(SQLiteBackend(sqlite_url), Backend)


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


async def test_ids_count_every_add_and_custom_ids_deduplicate(backend, queue_name) -> None:
    ids = await backend.add_jobs(queue_name, [job(), job(job_id="custom"), job()])
    assert ids == ["1", "custom", "3"]
    again = await backend.add_jobs(queue_name, [job("other", job_id="custom")])
    assert again == ["custom"]
    record = await backend.get_job(queue_name, "custom")
    assert record is not None
    assert record.name == "j"
    events = await backend.read_events(queue_name, "0", count=100)
    assert [e.name for e in events][-1] == "duplicated"
    assert (await backend.get_counts(queue_name, [JobState.WAITING]))[JobState.WAITING] == 3


async def test_fetch_order_lifo_then_fifo_then_priority(backend, queue_name) -> None:
    await backend.add_jobs(
        queue_name,
        [
            job("p2a", priority=2),
            job("a"),
            job("p1", priority=1),
            job("l1", lifo=True),
            job("b"),
            job("l2", lifo=True),
            job("p2b", priority=2),
        ],
    )
    assert await drain_order(backend, queue_name) == ["l2", "l1", "a", "b", "p1", "p2a", "p2b"]


async def test_due_delayed_jobs_are_promoted_first(backend, queue_name) -> None:
    await backend.add_jobs(
        queue_name, [job("late", delay_ms=100), job("now"), job("dp", delay_ms=50, priority=3)]
    )
    early = await backend.move_to_active(queue_name, fetch(), T0 + 10)
    assert early.job is not None
    assert early.job.name == "now"
    empty = await backend.move_to_active(queue_name, fetch(), T0 + 10)
    assert empty.job is None
    assert empty.next_delayed_at_ms == T0 + 50
    assert await drain_order(backend, queue_name, T0 + 100) == ["late", "dp"]
    promoted = await backend.get_job(queue_name, "1")
    assert promoted is not None
    assert promoted.delay_ms == 0
    names = [
        (e.name, dict(e.fields)) for e in await backend.read_events(queue_name, "0", count=100)
    ]
    assert ("waiting", {"jobId": "1", "prev": "delayed"}) in names


async def test_moved_back_job_goes_to_the_front(backend, queue_name) -> None:
    await backend.add_jobs(
        queue_name, [job("a"), job("b"), job("p1", priority=1), job("p1b", priority=1)]
    )
    a = (await backend.move_to_active(queue_name, fetch(), T0)).job
    assert a is not None
    assert await backend.move_to_wait(queue_name, a.id, "t1", T0) == 0
    assert (await backend.get_job(queue_name, a.id)).attempts_made == 0
    order = []
    for _ in range(3):
        got = (await backend.move_to_active(queue_name, fetch(), T0)).job
        assert got is not None
        order.append(got.name)
    assert order == ["a", "b", "p1"]
    # a prioritized job put back goes ahead of its priority peers
    p1 = await backend.get_job(queue_name, "3")
    assert p1 is not None
    await backend.move_to_wait(queue_name, "3", "t1", T0)
    assert await drain_order(backend, queue_name) == ["p1", "p1b"]


async def test_retry_goes_to_the_back_or_delayed(backend, queue_name) -> None:
    await backend.add_jobs(queue_name, [job("a"), job("b")])
    a = (await backend.move_to_active(queue_name, fetch(), T0)).job
    assert a is not None
    await backend.retry_job(queue_name, a.id, "t1", Retry("boom", '["x"]'), T0)
    record = await backend.get_job(queue_name, a.id)
    assert record is not None
    assert record.attempts_made == 1
    assert record.failed_reason == "boom"
    assert await drain_order(backend, queue_name) == ["b", "a"]
    await backend.retry_job(queue_name, a.id, "t1", Retry("again", delay_ms=500), T0 + 1)
    assert await backend.get_state(queue_name, a.id) is JobState.DELAYED
    got = await backend.move_to_active(queue_name, fetch(), T0 + 501)
    assert got.job is not None
    assert got.job.id == a.id
    assert got.job.attempts_made == 2


async def test_complete_with_fetch_next_and_drained(backend, queue_name) -> None:
    await backend.add_jobs(queue_name, [job("a"), job("b")])
    a = (await backend.move_to_active(queue_name, fetch(worker_name="w1"), T0)).job
    assert a is not None
    assert a.processed_by == "w1"
    assert a.attempts_started == 1
    nxt = await backend.move_to_finished(queue_name, a.id, "t1", Completed('"ok"'), T0 + 5, fetch())
    assert nxt is not None
    assert nxt.job is not None
    assert nxt.job.name == "b"
    done = await backend.get_job(queue_name, a.id)
    assert done is not None
    assert (done.finished_on_ms, done.return_value, done.attempts_made) == (T0 + 5, '"ok"', 1)
    assert (
        await backend.move_to_finished(queue_name, nxt.job.id, "t1", Completed("1"), T0 + 6) is None
    )
    names = [e.name for e in await backend.read_events(queue_name, "0", count=100)]
    assert names[-2:] == ["completed", "drained"]
    assert names.count("drained") == 1


async def test_fail_emits_retries_exhausted(backend, queue_name) -> None:
    await backend.add_jobs(queue_name, [job()])
    a = (await backend.move_to_active(queue_name, fetch(), T0)).job
    assert a is not None
    await backend.move_to_finished(queue_name, a.id, "t1", Failed("bad", '["st"]', attempts=1), T0)
    record = await backend.get_job(queue_name, a.id)
    assert record is not None
    assert record.failed_reason == "bad"
    assert record.stacktrace == '["st"]'
    assert await backend.get_state(queue_name, a.id) is JobState.FAILED
    events = await backend.read_events(queue_name, "0", count=100)
    assert [(e.name, dict(e.fields)) for e in events][-3:-1] == [
        ("failed", {"jobId": a.id, "failedReason": "bad", "prev": "active"}),
        ("retries-exhausted", {"jobId": a.id, "attemptsMade": "1"}),
    ]


async def test_refusals_use_codes_in_order_and_change_nothing(backend, queue_name) -> None:
    await backend.add_jobs(queue_name, [job(), job()])
    a = (await backend.move_to_active(queue_name, fetch("mine"), T0)).job
    assert a is not None
    before = await backend.get_job(queue_name, a.id)
    with pytest.raises(JobNotFoundError):
        await backend.move_to_finished(queue_name, "nope", "mine", Completed("1"), T0)
    with pytest.raises(LockMismatchError) as mismatch:
        await backend.move_to_finished(queue_name, a.id, "theirs", Completed("1"), T0)
    assert mismatch.value.operation == "move_to_finished"
    assert mismatch.value.job_id == a.id
    with pytest.raises(MissingLockError):  # expired lock (lock_until <= now)
        await backend.retry_job(queue_name, a.id, "mine", Retry("x"), T0 + LOCK)
    with pytest.raises(MissingLockError):  # never fetched
        await backend.move_to_wait(queue_name, "2", "mine", T0)
    assert await backend.get_job(queue_name, a.id) == before
    assert await backend.get_state(queue_name, a.id) is JobState.ACTIVE
    with pytest.raises(LockMismatchError):
        await backend.extend_lock(queue_name, a.id, "theirs", LOCK, T0)
    await backend.extend_lock(queue_name, a.id, "mine", LOCK, T0 + 1)
    assert await backend.extend_locks(queue_name, [(a.id, "mine"), ("2", "x")], LOCK, T0) == {
        "2": ErrorCode.JOB_LOCK_NOT_EXIST
    }
    await backend.move_to_finished(queue_name, a.id, "mine", Completed("1"), T0 + 2)
    with pytest.raises(MissingLockError):
        await backend.move_to_finished(queue_name, a.id, "mine", Completed("1"), T0 + 3)


async def test_not_active_is_code_minus_3(backend, queue_name) -> None:
    # A job that holds a live lock but is not active cannot occur through the
    # API; write it directly to check the last refusal in the order.
    await backend.add_jobs(queue_name, [job()])
    await backend.get_job(queue_name, "1")
    import sqlite3

    path = backend.url[len("sqlite:///") :]
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE jobs SET token='t1', lock_until=? WHERE id='1'", (T0 + LOCK,))
    with pytest.raises(JobStateError):
        await backend.move_to_finished(queue_name, "1", "t1", Completed("1"), T0)


@pytest.mark.parametrize(
    ("keep", "left"),
    [
        (KeepJobs(count=0), []),
        (KeepJobs(count=2), ["4", "5"]),
        (KeepJobs(), ["1", "2", "3", "4", "5"]),
    ],
)
async def test_retention_by_count(backend, queue_name, keep, left) -> None:
    await backend.add_jobs(queue_name, [job() for _ in range(5)])
    for i in range(5):
        got = (await backend.move_to_active(queue_name, fetch(), T0 + i)).job
        assert got is not None
        await backend.move_to_finished(queue_name, got.id, "t1", Completed("1", keep), T0 + i)
    kept = [str(i) for i in range(1, 6) if await backend.get_job(queue_name, str(i))]
    assert kept == left
    counts = await backend.get_counts(queue_name, [JobState.COMPLETED])
    assert counts[JobState.COMPLETED] == len(left)


async def test_retention_by_age(backend, queue_name) -> None:
    await backend.add_jobs(queue_name, [job() for _ in range(3)])
    for i, at in enumerate([T0, T0 + 1000, T0 + 5000]):
        got = (await backend.move_to_active(queue_name, fetch(), at)).job
        assert got is not None
        assert got.id == str(i + 1)
        await backend.move_to_finished(
            queue_name, got.id, "t1", Failed("x", keep=KeepJobs(age_ms=2000)), at
        )
    assert [await backend.get_state(queue_name, i) for i in "123"] == [
        JobState.UNKNOWN,
        JobState.UNKNOWN,
        JobState.FAILED,
    ]


async def test_stalled_check_is_two_phase_and_throttled(backend, queue_name) -> None:
    await backend.add_jobs(queue_name, [job("a"), job("b"), job("c")])
    a = (await backend.move_to_active(queue_name, fetch("ta"), T0)).job
    b = (await backend.move_to_active(queue_name, fetch("tb"), T0)).job
    assert a is not None
    assert b is not None
    # First check only marks the active jobs.
    assert await backend.move_stalled_to_wait(queue_name, 1, 5000, T0) == []
    # b's lock is extended (clears its mark); a's expires.
    await backend.extend_lock(queue_name, b.id, "tb", 10 * LOCK, T0 + 1)
    later = T0 + LOCK + 10_000
    assert await backend.move_stalled_to_wait(queue_name, 1, 5000, later) == [a.id]
    record = await backend.get_job(queue_name, a.id)
    assert record is not None
    assert record.stalled_counter == 1
    assert record.deferred_failure is None
    # the stalled job is at the front of wait
    nxt = (await backend.move_to_active(queue_name, fetch("ta2"), later)).job
    assert nxt is not None
    assert nxt.id == a.id
    # its old token is refused
    with pytest.raises(LockMismatchError):
        await backend.move_to_finished(queue_name, a.id, "ta", Completed("1"), later)
    events = [e.name for e in await backend.read_events(queue_name, "0", count=100)]
    assert events.count("stalled") == 1


async def test_stalled_throttle(backend, queue_name) -> None:
    await backend.add_jobs(queue_name, [job()])
    await backend.move_to_active(queue_name, fetch(), T0)
    assert await backend.move_stalled_to_wait(queue_name, 1, 5000, T0) == []
    # the lock is long gone, but the next check may only run from T0 + 5000
    assert await backend.move_stalled_to_wait(queue_name, 1, 5000, T0 + LOCK + 1) == ["1"]
    await backend.move_to_active(queue_name, fetch(), T0 + LOCK + 2)
    assert await backend.move_stalled_to_wait(queue_name, 1, 5000, T0 + LOCK + 3) == []


async def test_stalling_too_often_sets_deferred_failure(backend, queue_name) -> None:
    await backend.add_jobs(queue_name, [job()])
    now = T0
    for stall in (1, 2):
        await backend.move_to_active(queue_name, fetch(), now)
        now += 1
        assert await backend.move_stalled_to_wait(queue_name, 1, 1, now) == []
        now += LOCK + 1
        assert await backend.move_stalled_to_wait(queue_name, 1, 1, now) == ["1"]
        record = await backend.get_job(queue_name, "1")
        assert record is not None
        assert record.stalled_counter == stall
    assert record.deferred_failure == STALLED_LIMIT_REASON
    # the limiter is not counted for a job that will fail at once
    got = await backend.move_to_active(queue_name, fetch(limiter=Limiter(1, 10_000)), now)
    assert got.job is not None
    assert got.job.deferred_failure == STALLED_LIMIT_REASON
    assert await backend.get_rate_limit_ttl(queue_name, now) == 0


async def test_rate_limit_window(backend, queue_name) -> None:
    await backend.add_jobs(queue_name, [job() for _ in range(4)])
    lim = fetch(limiter=Limiter(max=2, duration_ms=1000))
    assert (await backend.move_to_active(queue_name, lim, T0)).job is not None
    assert (await backend.move_to_active(queue_name, lim, T0 + 100)).job is not None
    limited = await backend.move_to_active(queue_name, lim, T0 + 200)
    assert limited.job is None
    assert limited.rate_limited_for_ms == 800
    assert await backend.get_rate_limit_ttl(queue_name, T0 + 200) == 800
    # a new window starts once the old one has passed
    assert (await backend.move_to_active(queue_name, lim, T0 + 1000)).job is not None
    assert await backend.get_rate_limit_ttl(queue_name, T0 + 1000) == 0


async def test_manual_rate_limit_stops_every_worker(backend, queue_name) -> None:
    await backend.add_jobs(queue_name, [job(), job()])
    a = (await backend.move_to_active(queue_name, fetch(), T0)).job
    assert a is not None
    await backend.rate_limit(queue_name, 5000, T0)
    assert await backend.get_rate_limit_ttl(queue_name, T0 + 1000) == 4000
    assert await backend.move_to_wait(queue_name, a.id, "t1", T0 + 1000) == 4000
    got = await backend.move_to_active(queue_name, fetch(), T0 + 1000)
    assert got.job is None
    assert got.rate_limited_for_ms == 4000
    assert (await backend.move_to_active(queue_name, fetch(), T0 + 5000)).job is not None
    assert RATE_LIMIT_SENTINEL > 0


async def test_pause_keeps_jobs_and_still_promotes_delayed(backend, queue_name) -> None:
    await backend.add_jobs(queue_name, [job("a"), job("d", delay_ms=10)])
    await backend.pause(queue_name)
    assert await backend.is_paused(queue_name)
    got = await backend.move_to_active(queue_name, fetch(), T0 + 20)
    assert got == type(got)(None)
    counts = await backend.get_counts(queue_name, [JobState.WAITING, JobState.DELAYED])
    assert counts == {JobState.WAITING: 2, JobState.DELAYED: 0}
    await backend.add_jobs(queue_name, [job("b")])
    await backend.resume(queue_name)
    assert not await backend.is_paused(queue_name)
    assert await drain_order(backend, queue_name, T0 + 20) == ["a", "d", "b"]
    names = [e.name for e in await backend.read_events(queue_name, "0", count=100)]
    assert "paused" in names
    assert "resumed" in names


async def test_prefixes_keep_queues_apart(sqlite_url, queue_name) -> None:
    one, two = SQLiteBackend(sqlite_url, prefix="one"), SQLiteBackend(sqlite_url, prefix="two")
    try:
        await one.add_jobs(queue_name, [job()])
        assert await two.get_job(queue_name, "1") is None
        assert await two.add_jobs(queue_name, [job()]) == ["1"]
        assert (await two.move_to_active(queue_name, fetch(), T0)).job is not None
        assert await one.get_state(queue_name, "1") is JobState.WAITING
    finally:
        await one.close()
        await two.close()


async def test_events_cursor_and_blocking(backend, queue_name) -> None:
    assert await backend.read_events(queue_name, None) == []
    await backend.add_jobs(queue_name, [job()])
    assert await backend.read_events(queue_name, None) == []  # only new ones
    first = await backend.read_events(queue_name, "0", count=1)
    assert [e.name for e in first] == ["added"]
    rest = await backend.read_events(queue_name, first[-1].id)
    assert [e.name for e in rest] == ["waiting"]
    import asyncio

    reader = asyncio.create_task(backend.read_events(queue_name, None, block_ms=5000))
    await asyncio.sleep(0.05)
    await backend.pause(queue_name)
    got = await asyncio.wait_for(reader, 3)
    assert [e.name for e in got] == ["paused"]
    assert int(got[0].id) > int(rest[-1].id)
    assert await backend.read_events(queue_name, got[0].id, block_ms=30) == []


async def test_events_are_trimmed(backend, queue_name, monkeypatch) -> None:
    from corral.backends.sqlite import _tx

    monkeypatch.setattr(_tx, "MAX_EVENTS", 50)
    monkeypatch.setattr(_tx, "TRIM_EVERY", 20)
    for _ in range(10):
        await backend.add_jobs(queue_name, [job() for _ in range(20)])
    events = await backend.read_events(queue_name, "0", count=1000)
    assert 50 <= len(events) <= 50 + 40
    assert events[-1].fields == {"jobId": "200"}


async def test_obliterate(backend, queue_name) -> None:
    await backend.add_jobs(queue_name, [job(), job(delay_ms=5)])
    with pytest.raises(ObliterateError, match="not paused"):
        await backend.obliterate(queue_name, force=False)
    await backend.move_to_active(queue_name, fetch(), T0)
    await backend.pause(queue_name)
    with pytest.raises(ObliterateError, match="active"):
        await backend.obliterate(queue_name, force=False)
    await backend.obliterate(queue_name, force=True)
    assert await backend.get_state(queue_name, "1") is JobState.UNKNOWN
    assert not await backend.is_paused(queue_name)
    assert await backend.read_events(queue_name, "0") == []
    assert await backend.add_jobs(queue_name, [job()]) == ["1"]


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


async def test_wait_for_job(backend, queue_name, sqlite_url) -> None:
    import asyncio
    import time

    assert await backend.wait_for_job(queue_name, 30) is None
    other = SQLiteBackend(sqlite_url)  # another connection in this process
    try:
        waiter = asyncio.create_task(backend.wait_for_job(queue_name, 10_000))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await other.add_jobs(queue_name, [job()])
        assert await asyncio.wait_for(waiter, 5) == 0
        assert time.monotonic() - started < 2
        assert await backend.wait_for_job(queue_name, 10_000) == 0  # work is there now
        await backend.move_to_active(queue_name, fetch(), T0)
        # a delayed job: wake when it falls due and report its due time
        due = int(time.time() * 1000) + 100
        await other.add_jobs(
            queue_name, [NewJob("d", "{}", "{}", timestamp_ms=due - 100, delay_ms=100)]
        )
        assert await backend.wait_for_job(queue_name, 10_000) == due
    finally:
        await other.close()


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
