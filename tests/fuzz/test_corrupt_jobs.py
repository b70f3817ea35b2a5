"""Corrupt stored jobs: a hand-edited Redis hash or SQLite row never crashes a reader.

Reading reports the bad field with :class:`corral.CorruptJobError` (naming the job
and the field). A fetched job whose fields cannot be read is failed with that
reason by the backend itself, on every path that fetches (``move_to_active``,
``move_to_finished`` / ``retry_job`` with ``fetch``), and the next job is handed
out: a worker moves on at once instead of dying, looping or waiting for a stall.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from corral import CorruptJobError, Job, Queue, Worker
from corral._clock import now_ms
from corral.backends import open_backend
from corral.backends.base import (
    Backend,
    Completed,
    Fetched,
    FetchRequest,
    JobState,
    NewJob,
    Retry,
)
from corral.backends.redis.keys import QueueKeys
from corral.cli import main

Corrupt = Callable[[str, dict[str, str | None]], Awaitable[None]]
"""Overwrite stored fields of a job (BullMQ field names; None deletes the field)."""

_SQL_COLUMNS = {
    "atm": "attempts_made",
    "ats": "attempts_started",
    "data": "data",
    "opts": "opts",
    "timestamp": "timestamp",
    "processedOn": "processed_on",
    "returnvalue": "return_value",
    "name": "name",
}


@pytest.fixture(params=["sqlite", "redis"])
async def store(
    request: pytest.FixtureRequest, queue_name: str, tmp_path: Path
) -> AsyncIterator[tuple[str, Corrupt]]:
    """A store URL and a function that corrupts a job in it behind corral's back."""
    if request.param == "redis":
        url = str(request.getfixturevalue("redis_url"))
        raw = Redis.from_url(url, decode_responses=True)
        keys = QueueKeys("bull", queue_name)

        async def corrupt_redis(job_id: str, fields: dict[str, str | None]) -> None:
            for name, value in fields.items():
                if value is None:
                    await raw.hdel(keys.job(job_id), name)
                else:
                    await raw.hset(keys.job(job_id), name, value)

        yield url, corrupt_redis
        await raw.aclose()
        return
    path = tmp_path / "corrupt.db"

    async def corrupt_sqlite(job_id: str, fields: dict[str, str | None]) -> None:
        db = sqlite3.connect(path)
        try:
            for name, value in fields.items():
                column = _SQL_COLUMNS[name]
                db.execute(f"UPDATE jobs SET {column} = ? WHERE id = ?", (value, job_id))
            db.commit()
        except sqlite3.IntegrityError:
            # NOT NULL column: store an empty text instead, the nearest corruption.
            for name, value in fields.items():
                column = _SQL_COLUMNS[name]
                db.execute(f"UPDATE jobs SET {column} = ? WHERE id = ?", (value or "", job_id))
            db.commit()
        finally:
            db.close()

    yield f"sqlite:///{path}", corrupt_sqlite


CORRUPTIONS: list[tuple[dict[str, str | None], str]] = [
    ({"atm": "many"}, "atm"),
    ({"ats": "1.5e"}, "ats"),
    ({"timestamp": "yesterday"}, "timestamp"),
    ({"processedOn": "\x00\xff"}, "processedOn"),
]


@pytest.mark.parametrize(("fields", "field"), CORRUPTIONS)
async def test_a_non_numeric_field_is_reported_by_name(
    store: tuple[str, Corrupt], queue_name: str, fields: dict[str, str | None], field: str
) -> None:
    url, corrupt = store
    async with Queue(queue_name, url=url) as queue:
        good = await queue.add("good", {"n": 1})
        bad = await queue.add("bad", {"n": 2})
        await corrupt(bad.id, fields)
        with pytest.raises(CorruptJobError) as caught:
            await queue.get_job(bad.id)
        assert caught.value.job_id == bad.id
        assert caught.value.field == field
        assert bad.id in str(caught.value)
        assert field in str(caught.value)
        # The good job still reads; listing reports the corrupt one by name.
        again = await queue.get_job(good.id)
        assert again is not None
        assert again.data == {"n": 1}
        with pytest.raises(CorruptJobError, match=field):
            await queue.get_jobs("waiting")
        assert await queue.get_job_counts("waiting") == {"waiting": 2}


async def test_non_json_data_and_garbage_opts_read_cleanly(
    store: tuple[str, Corrupt], queue_name: str
) -> None:
    url, corrupt = store
    async with Queue(queue_name, url=url) as queue:
        job = await queue.add("bad", {"n": 1}, attempts=3)
        await corrupt(job.id, {"data": "{not json", "opts": "[1, 2", "returnvalue": "{{"})
        read = await queue.get_job(job.id)
        assert read is not None
        with pytest.raises(CorruptJobError) as caught:
            _ = read.data
        assert (caught.value.job_id, caught.value.field) == (job.id, "data")
        # Unreadable options read as defaults; they never stop the job being handled.
        assert read.opts.attempts == 0
        (listed,) = await queue.get_jobs("waiting")
        assert listed.id == job.id


async def test_a_node_job_with_unknown_options_is_kept_as_is(
    store: tuple[str, Corrupt], queue_name: str
) -> None:
    url, corrupt = store
    node_opts = (
        '{"attempts":2,"delay":0,"removeOnComplete":{"age":"x"},"backoff":"weird",'
        '"repeat":{"every":1000},"parent":{"id":"1","queue":"bull:p"},'
        '"sizeLimit":12,"telemetry":{"omitContext":true},"priority":"high"}'
    )
    async with Queue(queue_name, url=url) as queue:
        job = await queue.add("node", {"n": 1})
        await corrupt(job.id, {"opts": node_opts})
        read = await queue.get_job(job.id)
        assert read is not None
        assert read.opts.attempts == 2
        assert read.opts.priority == 0
        assert read.opts.backoff is None
        assert read.opts.size_limit == 12  # a BullMQ option corral takes
        assert read.opts.extra["telemetry"] == {"omitContext": True}
    async with Worker(queue_name, url=url, drain_delay=0.2) as worker:
        fetched = await worker.get_next_job("tok")
        assert fetched is not None
        assert fetched.id == job.id
        await fetched.move_to_failed(RuntimeError("boom"), "tok")
        assert await fetched.get_state() == "waiting"  # attempts 2: one retry left


@pytest.mark.parametrize(("fields", "field"), CORRUPTIONS[:1])
async def test_a_worker_fails_a_corrupt_job_and_goes_on(
    store: tuple[str, Corrupt], queue_name: str, fields: dict[str, str | None], field: str
) -> None:
    url, corrupt = store
    async with Queue(queue_name, url=url) as queue:
        bad = await queue.add("bad", {"n": 1})
        good = await queue.add("good", {"n": 2})
        await corrupt(bad.id, fields)
        done: list[Any] = []
        errors: list[BaseException] = []

        async def processor(job: Job) -> Any:
            done.append(job.data)
            return "ok"

        worker = Worker(queue_name, processor, url=url, drain_delay=0.2)
        worker.on("error", lambda error, job: errors.append(error))
        async with worker:
            for _ in range(100):
                if await queue.get_job_state(bad.id) == "failed" and done:
                    break
                await asyncio.sleep(0.05)
        assert done == [{"n": 2}]
        assert await queue.get_job_state(good.id) == "completed"
        assert await queue.get_job_state(bad.id) == "failed"
        counts = await queue.get_job_counts("active", "failed", "completed")
        assert counts == {"active": 0, "failed": 1, "completed": 1}
        (failed,) = await queue.get_jobs("failed")
        assert failed.failed_reason is not None
        assert field in failed.failed_reason
        assert bad.id in failed.failed_reason


async def test_a_worker_fails_a_corrupt_job_it_fetches_next_without_a_stall(
    store: tuple[str, Corrupt], queue_name: str
) -> None:
    url, corrupt = store
    async with Queue(queue_name, url=url) as queue:
        first = await queue.add("first", {"n": 1})
        bad = await queue.add("bad", {"n": 2})
        last = await queue.add("last", {"n": 3})
        await corrupt(bad.id, {"atm": "many"})
        done: list[Any] = []
        errors: list[BaseException] = []

        async def processor(job: Job) -> Any:
            done.append(job.data["n"])
            return "ok"

        # One slot: the bad job is reached by the fetch that completes the first.
        worker = Worker(queue_name, processor, url=url, concurrency=1, drain_delay=0.2)
        worker.on("error", lambda error, job: errors.append(error))
        async with worker:
            for _ in range(100):
                if await queue.get_job_state(last.id) == "completed":
                    break
                await asyncio.sleep(0.05)
        assert done == [1, 3]
        assert errors == []
        assert await queue.get_job_state(first.id) == "completed"
        failed = await queue.get_job(bad.id)
        assert failed is not None
        assert await failed.get_state() == "failed"
        assert failed.stalled_counter == 0
        assert failed.failed_reason is not None
        assert "atm" in failed.failed_reason


async def test_get_next_job_fails_a_corrupt_job_and_returns_the_next(
    store: tuple[str, Corrupt], queue_name: str
) -> None:
    url, corrupt = store
    async with Queue(queue_name, url=url) as queue:
        bad = await queue.add("bad", {"n": 1})
        good = await queue.add("good", {"n": 2})
        await corrupt(bad.id, {"atm": "lots"})
    async with Worker(queue_name, url=url, drain_delay=0.2) as worker:
        job = await worker.get_next_job("tok")
        assert job is not None
        assert job.id == good.id
        assert await job.get_state() == "active"
    async with Queue(queue_name, url=url) as queue:
        assert await queue.get_job_state(bad.id) == "failed"


FETCH_PATHS = ["move_to_active", "move_to_finished", "retry_job"]


async def _fetch_through(backend: Backend, path: str, queue: str, first: str) -> Fetched | None:
    """Fetch with ``token`` "tok" through ``path``; the finishing paths first move
    job ``first`` (active with token "t0") out of the way."""
    request = FetchRequest("tok", 30_000)
    now = now_ms()
    if path == "move_to_active":
        return await backend.move_to_active(queue, request, now)
    if path == "move_to_finished":
        return await backend.move_to_finished(queue, first, "t0", Completed("1"), now, request)
    return await backend.retry_job(queue, first, "t0", Retry("x", delay_ms=60_000), now, request)


@pytest.mark.parametrize("path", FETCH_PATHS)
async def test_every_fetch_fails_a_corrupt_job_at_once_and_hands_out_the_next(
    store: tuple[str, Corrupt], queue_name: str, path: str
) -> None:
    url, corrupt = store
    backend = open_backend(url)
    try:
        new = [NewJob(name, '{"n":1}', "{}", now_ms()) for name in ("first", "bad", "good")]
        first, bad, good = await backend.add_jobs(queue_name, new)
        if path != "move_to_active":
            taken = await backend.move_to_active(queue_name, FetchRequest("t0", 30_000), now_ms())
            assert taken.job is not None
            assert taken.job.id == first
        else:
            await backend.remove_job(queue_name, first, now_ms())
        await corrupt(bad, {"atm": "many"})
        cursor = await backend.events_cursor(queue_name)

        fetched = await _fetch_through(backend, path, queue_name, first)

        assert fetched is not None
        assert fetched.job is not None
        assert fetched.job.id == good
        assert await backend.get_state(queue_name, good) == JobState.ACTIVE
        assert await backend.get_state(queue_name, bad) == JobState.FAILED
        record = await backend.get_job(queue_name, bad)
        assert record is not None
        assert record.failed_reason is not None
        assert "atm" in record.failed_reason
        assert repr(bad) in record.failed_reason
        assert record.stalled_counter == 0
        events = await backend.read_events(queue_name, cursor, count=1000)
        failed = [e for e in events if e.name == "failed"]
        assert [dict(e.fields) for e in failed] == [
            {"jobId": bad, "failedReason": record.failed_reason, "prev": "active"}
        ]
        # The bad job is finished, so it never stalls (only the good one may).
        assert bad not in await backend.move_stalled_to_wait(queue_name, 1, 1, now_ms())
        later = now_ms() + 60_000
        assert bad not in await backend.move_stalled_to_wait(queue_name, 1, 1, later)
    finally:
        await backend.close()


@pytest.mark.parametrize("path", FETCH_PATHS)
async def test_a_run_of_corrupt_jobs_is_failed_and_the_fetch_finds_nothing(
    store: tuple[str, Corrupt], queue_name: str, path: str
) -> None:
    url, corrupt = store
    backend = open_backend(url)
    try:
        new = [NewJob(f"j{i}", "{}", "{}", now_ms()) for i in range(4)]
        first, *bad = await backend.add_jobs(queue_name, new)
        if path != "move_to_active":
            await backend.move_to_active(queue_name, FetchRequest("t0", 30_000), now_ms())
        else:
            await backend.remove_job(queue_name, first, now_ms())
        for job_id in bad:
            await corrupt(job_id, {"atm": "x"})

        fetched = await _fetch_through(backend, path, queue_name, first)

        assert fetched is not None
        assert fetched.job is None
        counts = await backend.get_counts(queue_name, [JobState.ACTIVE, JobState.FAILED])
        assert counts == {JobState.ACTIVE: 0, JobState.FAILED: 3}
    finally:
        await backend.close()


async def test_the_cli_lists_a_queue_with_a_corrupt_job(
    store: tuple[str, Corrupt], queue_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url, corrupt = store
    async with Queue(queue_name, url=url) as queue:
        await queue.add("good", {"n": 1})
        bad = await queue.add("bad", {"n": 2})
    await corrupt(bad.id, {"atm": "many"})
    capsys.readouterr()
    status = await asyncio.to_thread(main, ["jobs", queue_name, "--url", url])
    out, err = capsys.readouterr()
    assert status == 1
    assert "Traceback" not in out + err
    assert err.startswith("corral jobs: error: ")
    assert bad.id in err
    assert "atm" in err
    assert await asyncio.to_thread(main, ["status", "--url", url, "--queue", queue_name]) == 0
