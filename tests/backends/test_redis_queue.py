"""RedisBackend queue-wide operations and reads on a real Redis: stalled checker,
pause/resume (BullMQ 6 model, legacy list migration), obliterate, states and
counts, events, the marker wait, and tolerant reading of Node-written jobs."""

from __future__ import annotations

import asyncio
import base64
import gc
from typing import Any

import pytest
from redis.asyncio import Redis

from corral.backends.base import (
    STALLED_LIMIT_REASON,
    Backend,
    Completed,
    FetchRequest,
    JobState,
    NewJob,
)
from corral.backends.redis import RedisBackend
from corral.backends.redis.keys import QueueKeys
from corral.errors import (
    ConfigurationError,
    CorruptJobError,
    ObliterateError,
    StoreUnavailableError,
)

NOW = 1_795_865_390_412


def job(name: str = "j", **kw: Any) -> NewJob:
    kw.setdefault("timestamp_ms", NOW)
    return NewJob(name=name, data="{}", opts='{"attempts":0}', **kw)


def req(token: str = "tok") -> FetchRequest:
    return FetchRequest(token=token, lock_duration_ms=30_000)


async def names(raw: Redis, k: QueueKeys) -> list[str]:
    entries: Any = await raw.xrange(k.key("events"))
    return [fields["event"] for _, fields in entries]


# -- stalled checker --------------------------------------------------------------


async def test_stalled_job_returns_to_the_front_of_wait(backend, raw, k, queue_name):
    await backend.add_jobs(queue_name, [job(), job()])
    await backend.move_to_active(queue_name, req(), NOW)
    # first check only marks the active jobs as candidates
    assert await backend.move_stalled_to_wait(queue_name, 1, 30_000, NOW) == []
    assert await raw.smembers(k.key("stalled")) == {"1"}
    assert 29_000 < await raw.pttl(k.key("stalled-check")) <= 30_000
    # throttled: a second check within the interval does nothing
    await raw.delete(k.lock("1"))
    assert await backend.move_stalled_to_wait(queue_name, 1, 30_000, NOW) == []

    await raw.delete(k.key("stalled-check"))
    assert await backend.move_stalled_to_wait(queue_name, 1, 30_000, NOW) == ["1"]
    assert await raw.lrange(k.key("wait"), 0, -1) == ["2", "1"]
    assert await raw.hget(k.job("1"), "stc") == "1"
    assert await raw.hget(k.job("1"), "defa") is None
    assert (await names(raw, k))[-2:] == ["waiting", "stalled"]
    assert await raw.exists(k.key("active")) == 0


async def test_extended_lock_is_not_stalled(backend, raw, k, queue_name):
    await backend.add_jobs(queue_name, [job()])
    await backend.move_to_active(queue_name, req(), NOW)
    await backend.move_stalled_to_wait(queue_name, 1, 30_000, NOW)
    await backend.extend_lock(queue_name, "1", "tok", 30_000, NOW)
    await raw.delete(k.key("stalled-check"))
    assert await backend.move_stalled_to_wait(queue_name, 1, 30_000, NOW) == []
    assert await raw.lrange(k.key("active"), 0, -1) == ["1"]


async def test_job_stalling_too_often_gets_a_deferred_failure(backend, raw, k, queue_name):
    await backend.add_jobs(queue_name, [job()])
    for _ in range(2):
        fetched = await backend.move_to_active(queue_name, req(), NOW)
        assert fetched.job is not None
        await raw.delete(k.key("stalled-check"))
        await backend.move_stalled_to_wait(queue_name, 1, 30_000, NOW)
        await raw.delete(k.lock("1"), k.key("stalled-check"))
        assert await backend.move_stalled_to_wait(queue_name, 1, 30_000, NOW) == ["1"]
    record = await backend.get_job(queue_name, "1")
    assert record is not None
    assert (record.stalled_counter, record.deferred_failure) == (2, STALLED_LIMIT_REASON)


# -- state and counts ---------------------------------------------------------------


async def test_get_state_follows_the_job(backend, raw, k, queue_name):
    await backend.add_jobs(
        queue_name, [job(), job(delay_ms=10), job(priority=1), job(), job(job_id="kid")]
    )
    await raw.zadd(k.key("waiting-children"), {"kid": NOW})
    await raw.lrem(k.key("wait"), 0, "kid")
    await raw.rpush(k.key("paused"), "4")
    await raw.lrem(k.key("wait"), 0, "4")
    state = backend.get_state
    assert await state(queue_name, "1") is JobState.WAITING
    assert await state(queue_name, "2") is JobState.DELAYED
    assert await state(queue_name, "3") is JobState.PRIORITIZED
    assert await state(queue_name, "4") is JobState.WAITING  # legacy paused list
    assert await state(queue_name, "kid") is JobState.WAITING_CHILDREN
    assert await state(queue_name, "nope") is JobState.UNKNOWN
    await backend.move_to_active(queue_name, req(), NOW)
    assert await state(queue_name, "1") is JobState.ACTIVE
    await backend.move_to_finished(queue_name, "1", "tok", Completed("1"), NOW)
    assert await state(queue_name, "1") is JobState.COMPLETED


async def test_get_counts(backend, queue_name):
    await backend.add_jobs(queue_name, [job(), job(), job(delay_ms=5), job(priority=2)])
    await backend.move_to_active(queue_name, req(), NOW)
    counts = await backend.get_counts(queue_name, list(JobState))
    assert counts == {
        JobState.WAITING: 1,
        JobState.ACTIVE: 1,
        JobState.DELAYED: 1,
        JobState.PRIORITIZED: 1,
        JobState.COMPLETED: 0,
        JobState.FAILED: 0,
        JobState.WAITING_CHILDREN: 0,
        JobState.UNKNOWN: 0,
    }


# -- pause / resume -----------------------------------------------------------------


async def test_pause_and_resume_use_meta_only(backend, raw, k, queue_name):
    await backend.add_jobs(queue_name, [job()])
    await backend.pause(queue_name)
    assert await backend.is_paused(queue_name)
    assert await raw.hget(k.key("meta"), "paused") == "1"
    assert await raw.exists(k.key("marker"), k.key("paused")) == 0
    assert await raw.lrange(k.key("wait"), 0, -1) == ["1"]
    await backend.resume(queue_name)
    assert not await backend.is_paused(queue_name)
    assert await raw.zrange(k.key("marker"), 0, -1, withscores=True) == [("0", 0.0)]
    assert (await names(raw, k))[-2:] == ["paused", "resumed"]


async def test_resume_with_only_delayed_jobs_sets_the_delay_marker(backend, raw, k, queue_name):
    await backend.add_jobs(queue_name, [job(delay_ms=100)])
    await backend.pause(queue_name)
    await backend.resume(queue_name)
    assert await raw.zrange(k.key("marker"), 0, -1, withscores=True) == [("1", NOW + 100)]


async def test_resume_renames_a_legacy_paused_list_when_wait_is_absent(backend, raw, k, queue_name):
    await backend.pause(queue_name)
    await raw.rpush(k.key("paused"), "p3", "p2", "p1")
    await backend.resume(queue_name)
    assert await raw.lrange(k.key("wait"), 0, -1) == ["p3", "p2", "p1"]
    assert await raw.exists(k.key("paused")) == 0


async def test_resume_migrates_a_large_legacy_list_in_batches(backend, raw, k, queue_name):
    await backend.pause(queue_name)
    await raw.rpush(k.key("wait"), "w2", "w1")
    legacy = [f"p{i}" for i in range(7005, 0, -1)]
    await raw.rpush(k.key("paused"), *legacy)
    await backend.resume(queue_name)
    # legacy jobs sit at the consuming end, in their order: p1 runs first
    assert await raw.lrange(k.key("wait"), 0, -1) == ["w2", "w1", *legacy]
    assert await raw.exists(k.key("paused")) == 0
    assert (await names(raw, k)).count("resumed") == 1


# -- obliterate -----------------------------------------------------------------------


async def test_obliterate_refuses_a_queue_that_is_not_paused(backend, raw, k, queue_name):
    await backend.add_jobs(queue_name, [job()])
    with pytest.raises(ObliterateError, match="not paused"):
        await backend.obliterate(queue_name, force=False)
    assert await raw.exists(k.job("1")) == 1


async def test_obliterate_refuses_active_jobs_without_force(backend, raw, k, queue_name):
    await backend.add_jobs(queue_name, [job()])
    await backend.move_to_active(queue_name, req(), NOW)
    await backend.pause(queue_name)
    with pytest.raises(ObliterateError, match=r"1 active job.*force=True"):
        await backend.obliterate(queue_name, force=False)
    assert await raw.exists(k.job("1"), k.lock("1")) == 2


async def test_obliterate_with_force_removes_everything(backend, raw, k, queue_name):
    jobs = [job() for _ in range(1_200)] + [job(delay_ms=50), job(priority=3)]
    await backend.add_jobs(queue_name, jobs)
    fetched = await backend.move_to_active(queue_name, req(), NOW)
    assert fetched.job is not None
    await backend.add_jobs(queue_name, [job()])
    active = await backend.move_to_active(queue_name, req(), NOW)
    assert active.job is not None
    await backend.move_to_finished(queue_name, active.job.id, "tok", Completed("1"), NOW)
    await backend.rate_limit(queue_name, 60_000, NOW)
    await backend.pause(queue_name)
    await backend.obliterate(queue_name, force=True)
    left = [key async for key in raw.scan_iter(match=k.base + "*")]
    assert left == [k.key("limiter")]  # BullMQ leaves the limiter too


# -- events ----------------------------------------------------------------------------


async def test_read_events_from_a_cursor(backend, queue_name):
    await backend.add_jobs(queue_name, [job("a")])
    first = await backend.read_events(queue_name, "0")
    assert [(e.name, dict(e.fields)) for e in first] == [
        ("added", {"jobId": "1", "name": "a"}),
        ("waiting", {"jobId": "1"}),
    ]
    assert await backend.read_events(queue_name, first[-1].id) == []
    assert len(await backend.read_events(queue_name, "0", count=1)) == 1


async def test_read_events_blocks_for_new_events(backend, queue_name):
    async def add_later() -> None:
        await asyncio.sleep(0.05)
        await backend.add_jobs(queue_name, [job("late")])

    task = asyncio.create_task(add_later())
    got = await backend.read_events(queue_name, None, block_ms=2_000)
    await task
    assert got[0].name == "added"
    assert await backend.read_events(queue_name, None, block_ms=10) == []


async def test_events_stream_is_trimmed_to_meta_max_len(backend, raw, k, queue_name):
    await raw.hset(k.key("meta"), "opts.maxLenEvents", 10)
    await backend.add_jobs(queue_name, [job() for _ in range(500)])
    await backend.move_to_active(queue_name, req(), NOW)
    await backend.move_to_finished(queue_name, "1", "tok", Completed("1"), NOW)
    # approximate trimming: far below the 1000+ entries written
    assert await raw.xlen(k.key("events")) < 500


# -- wait_for_job -----------------------------------------------------------------------


async def test_wait_for_job_wakes_on_the_base_marker(backend, raw, k, queue_name):
    await backend.add_jobs(queue_name, [job()])
    assert await backend.wait_for_job(queue_name, 1_000) == 0
    assert await raw.exists(k.key("marker")) == 0  # consumed


async def test_wait_for_job_returns_the_next_due_time(backend, queue_name):
    await backend.add_jobs(queue_name, [job(delay_ms=3_000)])
    assert await backend.wait_for_job(queue_name, 1_000) == NOW + 3_000


async def test_wait_for_job_times_out_and_is_visible_as_a_worker(backend, raw, queue_name):
    assert await backend.wait_for_job(queue_name, 0) is None
    name = f"bull:{base64.b64encode(queue_name.encode()).decode()}"
    clients = await raw.client_list()
    assert name in [c["name"] for c in clients]


async def test_wait_for_job_is_woken_by_an_add(backend, redis_url, queue_name):
    producer = RedisBackend(redis_url)
    try:
        waiter = asyncio.create_task(backend.wait_for_job(queue_name, 30_000))
        await asyncio.sleep(0.05)
        await producer.add_jobs(queue_name, [job()])
        assert await asyncio.wait_for(waiter, 10) == 0  # woken, long before it times out
    finally:
        await producer.close()


async def test_wait_and_fetch_queues_the_fetch_behind_the_pop(backend, redis_url, queue_name):
    """Woken by an add, the wait hands out the job itself: locked, stamped by the
    server's clock, from the one blocking connection (no second call)."""
    await backend.move_to_active(queue_name, req(), NOW)  # as a worker does before it waits
    producer = RedisBackend(redis_url)
    try:
        waiter = asyncio.create_task(backend.wait_and_fetch(queue_name, 30_000, req("w")))
        await asyncio.sleep(0.05)
        (added,) = await producer.add_jobs(queue_name, [job()])
        woke, fetched = await asyncio.wait_for(waiter, 10)
    finally:
        await producer.close()
    assert woke == 0
    assert fetched is not None
    assert fetched.job is not None
    assert fetched.job.id == added
    assert fetched.job.attempts_started == 1
    await backend.extend_lock(queue_name, added, "w", 1_000, NOW)  # the lock is "w"'s


async def test_a_lost_connection_fails_wait_and_fetch_with_one_error(
    backend, raw, queue_name, caplog
):
    """The blocking connection drops during the wait: the caller hears of it once,
    as an unreachable store, and nothing is logged as an error nobody read."""
    waiter = asyncio.create_task(backend.wait_and_fetch(queue_name, 30_000, req("w")))
    await asyncio.sleep(0.05)
    await raw.execute_command("CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal")
    failures = 0
    try:
        await asyncio.wait_for(waiter, 10)
    except StoreUnavailableError:
        failures += 1
    assert failures == 1
    del waiter  # with its error's frames: whatever the wait left unread is collected
    await backend.close()
    gc.collect()
    await asyncio.sleep(0)
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


# -- reading jobs written by others ------------------------------------------------------


async def test_reads_node_jobs_with_legacy_fields(backend, raw, k, queue_name):
    await raw.hset(
        k.job("7"),
        mapping={
            "name": "old",
            "opts": "{}",
            "timestamp": str(NOW),
            "attemptsMade": "2",
            "stalledCounter": "1",
            "progress": "50",
        },
    )
    record = await backend.get_job(queue_name, "7")
    assert record is not None
    assert (record.data, record.delay_ms, record.priority) == ("{}", 0, 0)
    assert (record.attempts_made, record.stalled_counter, record.progress) == (2, 1, "50")
    assert await backend.get_job(queue_name, "missing") is None


async def test_corrupt_number_field_is_reported(backend, raw, k, queue_name):
    await raw.hset(k.job("8"), mapping={"name": "x", "timestamp": str(NOW), "ats": "many"})
    with pytest.raises(CorruptJobError) as info:
        await backend.get_job(queue_name, "8")
    assert (info.value.job_id, info.value.field) == ("8", "ats")


# -- lifecycle ----------------------------------------------------------------------------


async def test_constructor_connects_nowhere_and_masks_the_password() -> None:
    backend = RedisBackend("redis://user:secret@127.0.0.1:1/0")
    assert backend.url == "redis://user:***@127.0.0.1:1/0"
    assert "secret" not in repr(backend)
    await backend.close()
    await backend.close()


async def test_close_is_idempotent_and_reconnects_lazily(backend, queue_name):
    await backend.add_jobs(queue_name, [job()])
    await backend.wait_for_job(queue_name, 1)
    await backend.close()
    await backend.close()
    assert await backend.get_state(queue_name, "1") is JobState.WAITING


async def test_queue_names_with_colons_are_rejected(backend):
    with pytest.raises(ValueError, match="no ':'"):
        await backend.add_jobs("a:b", [job()])


def test_redis_backend_satisfies_the_backend_protocol() -> None:
    backend: Backend = RedisBackend("redis://127.0.0.1:1/0")
    assert isinstance(backend, Backend)


def test_a_url_parameter_corral_does_not_read_is_refused_at_once():
    # corral speaks RESP2 itself; redis-py's own parameters are not silently ignored.
    with pytest.raises(
        ConfigurationError, match=r"unknown parameter\(s\) 'protocol'.*socket_timeout"
    ):
        RedisBackend("redis://127.0.0.1:1/0?protocol=3")
