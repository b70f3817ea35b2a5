"""Times beyond what a store can hold: a ``timestamp`` or a due time (``timestamp +
delay``) so far away that SQLite's integers overflow or a Redis score's due time
comes back negative.

They are refused at add, on both backends, with the limit in the message, and
nothing is written. The limits themselves are accepted and read back exactly. A
due time that is out of range anyway (a foreign producer wrote it) never makes an
idle worker poll the store in a loop.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from corral import Queue, Worker
from corral.backends.redis.keys import QueueKeys
from corral.options import MAX_DUE_MS, MAX_TIMESTAMP_MS

FAR: list[tuple[dict[str, Any], str]] = [
    ({"timestamp": 1e17}, "timestamp"),
    ({"timestamp": MAX_TIMESTAMP_MS / 1000 + 1}, "timestamp"),
    ({"timestamp": datetime(1969, 12, 31, tzinfo=UTC)}, "timestamp"),
    ({"delay": 9_006e9}, "due"),
    ({"delay": timedelta(days=365 * 300_000)}, "delay"),
    ({"timestamp": MAX_TIMESTAMP_MS / 1000, "delay": (MAX_DUE_MS - MAX_TIMESTAMP_MS) / 1000 + 1},
     "due"),
]  # fmt: skip


@pytest.mark.parametrize(("options", "named"), FAR)
async def test_a_time_beyond_the_store_is_refused_at_add(
    url: str, queue_name: str, options: dict[str, Any], named: str
) -> None:
    async with Queue(queue_name, url=url) as queue:
        with pytest.raises(ValueError, match=named) as caught:
            await queue.add("far", {}, **options)
        assert "9999" in str(caught.value) or "2**53" in str(caught.value), caught.value
        with pytest.raises(ValueError, match=named):
            await queue.add_bulk([{"name": "ok"}, {"name": "far", **options}])
        assert sum((await queue.get_job_counts()).values()) == 0


async def test_the_farthest_times_are_stored_and_read_back_exactly(
    url: str, queue_name: str
) -> None:
    async with Queue(queue_name, url=url) as queue:
        last = await queue.add("last", {}, timestamp=MAX_TIMESTAMP_MS / 1000)
        stored = await queue.get_job(last.id)
        assert stored is not None
        assert stored.timestamp == datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
        delay = (MAX_DUE_MS - MAX_TIMESTAMP_MS) / 1000
        due = await queue.add("due-last", {}, timestamp=MAX_TIMESTAMP_MS / 1000, delay=delay)
        assert await queue.get_job_state(due.id) == "delayed"
        worker = Worker(queue_name, url=url, drain_delay=0.1)
        try:
            job = await worker.get_next_job("tok")  # "last" is due: it runs
            assert job is not None
            assert job.name == "last"
            assert await worker.get_next_job("tok", block=False) is None
        finally:
            await worker.close()
        assert await queue.get_job_state(due.id) == "delayed"


async def test_an_idle_worker_does_not_poll_for_a_due_time_out_of_range(
    redis_url: str, queue_name: str, raw: Redis, report: list[str]
) -> None:
    # What a producer that does not check (Node) stores for a job due in 1e20 ms:
    # its due time comes back from Redis as a negative number.
    keys = QueueKeys("bull", queue_name)
    await raw.hset(
        keys.job("far"),
        mapping={"name": "far", "data": "{}", "opts": "{}", "timestamp": 10**20, "delay": 1},
    )
    await raw.zadd(keys.key("delayed"), {"far": 4.096e23})
    await raw.zadd(keys.key("marker"), {"1": 1e20})
    seen = []

    async def process(job: Any) -> None:
        seen.append(job.id)

    async with Worker(queue_name, process, url=redis_url, drain_delay=0.5) as worker:
        await asyncio.sleep(0.3)  # let it settle into waiting
        before = await _calls(raw)
        await asyncio.sleep(2.0)
        calls = await _calls(raw) - before
        assert worker.running
    report.append(f"an idle worker made {calls} Redis calls in 2 s with a due time out of range")
    assert not seen
    # Waiting costs one blocking call per drain_delay (0.5 s) and a fetch after each.
    assert calls < 20, calls


async def _calls(raw: Redis) -> int:
    stats = await raw.info("commandstats")
    return sum(
        int(v["calls"]) for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_bzpopmin")
    )
