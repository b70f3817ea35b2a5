"""RedisBackend per-job changes and listings on a real Redis: progress, logs,
remove, promote, reprocess, get_jobs, list_queues, events_cursor; with the
BullMQ layout each leaves behind."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from corral._clock import now_ms
from corral.backends.base import Completed, Failed, FetchRequest, JobState, NewJob
from corral.backends.redis import RedisBackend
from corral.backends.redis.keys import QueueKeys
from corral.errors import JobNotFoundError, JobStateError

NOW = 1_795_865_390_412
P32 = 2**32


def job(name: str = "j", **kw: Any) -> NewJob:
    kw.setdefault("timestamp_ms", NOW)
    kw.setdefault("opts", '{"attempts":0}')
    return NewJob(name=name, data="{}", **kw)


def req(token: str = "tok") -> FetchRequest:
    return FetchRequest(token=token, lock_duration_ms=30_000)


async def last_event(raw: Redis, k: QueueKeys) -> dict[str, str]:
    entries: Any = await raw.xrevrange(k.key("events"), count=1)
    return dict(entries[0][1])


async def test_update_progress_stores_and_announces(backend, raw, k, queue_name):
    await backend.add_jobs(queue_name, [job()])
    await backend.update_progress(queue_name, "1", '{"pct":50}')
    assert await raw.hget(k.job("1"), "progress") == '{"pct":50}'
    assert await last_event(raw, k) == {"event": "progress", "jobId": "1", "data": '{"pct":50}'}
    with pytest.raises(JobNotFoundError):
        await backend.update_progress(queue_name, "nope", "1")


async def test_logs_append_trim_and_read(backend, raw, k, queue_name):
    await backend.add_jobs(queue_name, [job()])
    for i in range(4):
        count = await backend.add_log(queue_name, "1", f"line {i}", keep=3)
    assert count == 3
    assert await raw.lrange(k.job("1") + ":logs", 0, -1) == ["line 1", "line 2", "line 3"]
    assert await backend.get_logs(queue_name, "1", 1, 1) == (["line 2"], 3)
    with pytest.raises(JobNotFoundError):
        await backend.add_log(queue_name, "nope", "x")


async def test_remove_job_deletes_everything_and_says_where_it_was(backend, raw, k, queue_name):
    await backend.add_jobs(queue_name, [job(delay_ms=100)])
    await backend.add_log(queue_name, "1", "x")
    assert await backend.remove_job(queue_name, "1", now_ms())
    assert await raw.exists(k.job("1"), k.job("1") + ":logs", k.key("delayed")) == 0
    assert await last_event(raw, k) == {"event": "removed", "jobId": "1", "prev": "delayed"}
    assert not await backend.remove_job(queue_name, "1", now_ms())


async def test_remove_refuses_a_locked_active_job(backend, raw, k, queue_name):
    await backend.add_jobs(queue_name, [job()])
    await backend.move_to_active(queue_name, req(), NOW)
    with pytest.raises(JobStateError, match="locked") as refused:
        await backend.remove_job(queue_name, "1", now_ms())
    assert (refused.value.job_id, refused.value.operation) == ("1", "remove_job")
    assert await raw.lrange(k.key("active"), 0, -1) == ["1"]
    await raw.delete(k.lock("1"))
    assert await backend.remove_job(queue_name, "1", now_ms())
    assert await raw.exists(k.key("active")) == 0


async def test_promote_moves_a_delayed_job_now(backend, raw, k, queue_name):
    await backend.add_jobs(queue_name, [job(delay_ms=60_000), job(delay_ms=60_000, priority=2)])
    await backend.promote(queue_name, "1")
    await backend.promote(queue_name, "2")
    assert await raw.lrange(k.key("wait"), 0, -1) == ["1"]
    assert await raw.zrange(k.key("prioritized"), 0, -1, withscores=True) == [("2", 2 * P32 + 1)]
    assert await raw.hget(k.job("1"), "delay") == "0"
    assert await last_event(raw, k) == {"event": "waiting", "jobId": "2", "prev": "delayed"}
    # The refusal says where the job is, not only where it is not.
    with pytest.raises(JobStateError, match=r"job '1' is waiting, not delayed \(promote\)"):
        await backend.promote(queue_name, "1")
    with pytest.raises(JobNotFoundError):
        await backend.promote(queue_name, "nope")


async def test_reprocess_runs_a_finished_job_again(backend, raw, k, queue_name):
    await backend.add_jobs(queue_name, [job()])
    await backend.move_to_active(queue_name, req(), NOW)
    await backend.move_to_finished(queue_name, "1", "tok", Failed("boom"), NOW)
    with pytest.raises(JobStateError, match=r"job '1' is failed, not completed"):
        await backend.reprocess_job(queue_name, "1", JobState.COMPLETED, reset_attempts=False)
    await backend.reprocess_job(queue_name, "1", JobState.FAILED, reset_attempts=True)
    fields = await raw.hgetall(k.job("1"))
    assert not {"failedReason", "finishedOn", "processedOn", "atm", "ats"} & set(fields)
    assert await raw.lrange(k.key("wait"), 0, -1) == ["1"]
    assert await raw.exists(k.key("failed")) == 0
    assert await last_event(raw, k) == {"event": "waiting", "jobId": "1", "prev": "failed"}


@pytest.mark.parametrize("state", [JobState.ACTIVE, JobState.WAITING, JobState.DELAYED])
async def test_reprocess_refuses_a_state_that_is_not_finished(backend, raw, k, queue_name, state):
    await backend.add_jobs(queue_name, [job()])
    before = await raw.lrange(k.key("wait"), 0, -1)
    with pytest.raises(JobStateError, match=r"job '1' is waiting, not completed or failed"):
        await backend.reprocess_job(queue_name, "1", state, reset_attempts=False)
    assert await raw.lrange(k.key("wait"), 0, -1) == before


async def test_get_jobs_orders_each_state_and_slices_across_states(backend, queue_name):
    await backend.add_jobs(
        queue_name,
        [job("a"), job("b"), job("c", lifo=True), job("p2", priority=2), job("p1", priority=1)],
    )
    await backend.add_jobs(queue_name, [job("d2", delay_ms=200), job("d1", delay_ms=100)])
    states = [JobState.WAITING, JobState.PRIORITIZED, JobState.DELAYED]
    listed = await backend.get_jobs(queue_name, states)
    assert [j.name for j in listed] == ["c", "a", "b", "p1", "p2", "d1", "d2"]
    sliced = await backend.get_jobs(queue_name, states, 2, 5)
    assert [j.name for j in sliced] == ["b", "p1", "p2", "d1"]

    for at in (NOW, NOW + 1):
        fetched = await backend.move_to_active(queue_name, req(), NOW)
        assert fetched.job is not None
        await backend.move_to_finished(queue_name, fetched.job.id, "tok", Completed("1"), at)
    done = await backend.get_jobs(queue_name, [JobState.COMPLETED])
    assert [j.name for j in done] == ["a", "c"]  # most recently finished first


async def test_list_queues_and_events_cursor(backend, redis_url, queue_name):
    assert await backend.events_cursor(queue_name) == "0"
    await backend.add_jobs(queue_name, [job()])
    assert queue_name in await backend.list_queues()
    cursor = await backend.events_cursor(queue_name)
    assert await backend.read_events(queue_name, cursor) == []
    await backend.add_jobs(queue_name, [job("after")])
    assert [e.name for e in await backend.read_events(queue_name, cursor)] == ["added", "waiting"]

    other = RedisBackend(redis_url, prefix="other[x]")
    try:
        await other.add_jobs("q1", [job()])
        assert await other.list_queues() == ["q1"]
        await other.pause("q1")
        await other.obliterate("q1", force=True)
    finally:
        await other.close()
