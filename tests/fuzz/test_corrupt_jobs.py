"""Corrupt stored jobs: a hand-edited Redis hash or SQLite row never crashes a reader.

Reading reports the bad field with :class:`corral.CorruptJobError` (naming the job
and the field); a fetched job whose fields cannot be read is failed with that
reason, so a processor worker moves on instead of dying or looping on it.
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
        assert read.opts.extra["sizeLimit"] == 12
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
