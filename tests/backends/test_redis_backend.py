"""RedisBackend job operations on a real Redis: behaviour, and the exact BullMQ 6
layout they leave behind (read back with a raw client), so Node shares the queue."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis

from corral.backends.base import (
    Completed,
    Failed,
    FetchRequest,
    NewJob,
    Retry,
)
from corral.backends.redis import RedisBackend
from corral.backends.redis.keys import QueueKeys
from corral.errors import (
    ErrorCode,
    JobNotFoundError,
    JobStateError,
    LockMismatchError,
    MissingLockError,
)

NOW = 1_795_865_390_412
P32 = 2**32


def job(name: str = "j", **kw: Any) -> NewJob:
    kw.setdefault("timestamp_ms", NOW)
    return NewJob(name=name, data='{"n":1}', opts='{"attempts":0}', **kw)


def req(token: str = "tok", **kw: Any) -> FetchRequest:
    return FetchRequest(token=token, lock_duration_ms=30_000, **kw)


async def events(raw: Redis, k: QueueKeys) -> list[tuple[str, dict[str, str]]]:
    """The queue's events as (name, other fields), oldest first."""
    entries: Any = await raw.xrange(k.key("events"))
    return [(fields.pop("event"), fields) for _, fields in entries]


async def snapshot(raw: Redis, k: QueueKeys) -> dict[str, Any]:
    """Every key of the queue with its type and contents (TTLs rounded away)."""
    state: dict[str, Any] = {}
    async for key in raw.scan_iter(match=k.base + "*"):
        kind = await raw.type(key)
        if kind == "hash":
            state[key] = await raw.hgetall(key)
        elif kind == "list":
            state[key] = await raw.lrange(key, 0, -1)
        elif kind == "zset":
            state[key] = await raw.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            state[key] = sorted(await raw.smembers(key))
        elif kind == "stream":
            state[key] = await raw.xrange(key)
        else:
            state[key] = (await raw.get(key), await raw.pttl(key) > 0)
    return state


async def active_job(backend: RedisBackend, queue: str, token: str = "tok", **kw: Any) -> str:
    (job_id,) = await backend.add_jobs(queue, [job(**kw)])
    fetched = await backend.move_to_active(queue, req(token), NOW)
    assert fetched.job is not None
    assert fetched.job.id == job_id
    return job_id


# -- add_jobs -------------------------------------------------------------------


async def test_plain_job_is_stored_as_node_stores_it(backend, raw, k, queue_name):
    ids = await backend.add_jobs(queue_name, [job("mail")])
    assert ids == ["1"]
    assert await raw.hgetall(k.job("1")) == {
        "name": "mail",
        "data": '{"n":1}',
        "opts": '{"attempts":0}',
        "timestamp": str(NOW),
        "delay": "0",
        "priority": "0",
    }
    assert await raw.lrange(k.key("wait"), 0, -1) == ["1"]
    assert await raw.get(k.key("id")) == "1"
    assert await raw.zrange(k.key("marker"), 0, -1, withscores=True) == [("0", 0.0)]
    assert await events(raw, k) == [
        ("added", {"jobId": "1", "name": "mail"}),
        ("waiting", {"jobId": "1"}),
    ]
    assert await raw.hget(k.key("meta"), "opts.maxLenEvents") == "10000"


async def test_fifo_jobs_are_lpushed_and_lifo_jobs_rpushed(backend, raw, k, queue_name):
    await backend.add_jobs(queue_name, [job("a"), job("b"), job("c", lifo=True)])
    # head..tail; workers take from the tail
    assert await raw.lrange(k.key("wait"), 0, -1) == ["2", "1", "3"]


async def test_prioritized_score_is_priority_times_2_32_plus_counter(backend, raw, k, queue_name):
    await backend.add_jobs(queue_name, [job(priority=5), job(priority=5), job(priority=2)])
    assert await raw.zrange(k.key("prioritized"), 0, -1, withscores=True) == [
        ("3", 2 * P32 + 3),
        ("1", 5 * P32 + 1),
        ("2", 5 * P32 + 2),
    ]
    assert await raw.get(k.key("pc")) == "3"
    assert await raw.exists(k.key("wait")) == 0
    assert ("waiting", {"jobId": "1"}) in await events(raw, k)


async def test_delayed_job_scores_and_delay_marker(backend, raw, k, queue_name):
    await backend.add_jobs(
        queue_name, [job(delay_ms=60_000), job(delay_ms=60_000), job(delay_ms=5_000, priority=3)]
    )
    due = NOW + 60_000
    assert await raw.zrange(k.key("delayed"), 0, -1, withscores=True) == [
        ("3", (NOW + 5_000) * 4096),
        ("1", due * 4096),
        ("2", due * 4096 + 1),
    ]
    assert await raw.hget(k.job("1"), "delay") == "60000"
    assert await raw.zrange(k.key("marker"), 0, -1, withscores=True) == [("1", NOW + 5_000)]
    assert ("delayed", {"jobId": "1", "delay": str(due)}) in await events(raw, k)
    assert await raw.exists(k.key("wait"), k.key("prioritized")) == 0


async def test_add_while_paused_keeps_jobs_in_wait_without_marker(backend, raw, k, queue_name):
    await backend.pause(queue_name)
    await backend.add_jobs(queue_name, [job(), job(priority=1)])
    assert await raw.lrange(k.key("wait"), 0, -1) == ["1"]
    assert await raw.exists(k.key("marker"), k.key("paused")) == 0


async def test_add_when_global_concurrency_is_reached_adds_no_marker(backend, raw, k, queue_name):
    await raw.hset(k.key("meta"), "concurrency", 1)
    await active_job(backend, queue_name)
    await raw.delete(k.key("marker"))
    await backend.add_jobs(queue_name, [job()])
    assert await raw.exists(k.key("marker")) == 0


# -- move_to_active ---------------------------------------------------------------


async def test_fetch_locks_the_job_and_records_the_activation(backend, raw, k, queue_name):
    await backend.add_jobs(queue_name, [job()])
    fetched = await backend.move_to_active(queue_name, req("tok-1", worker_name="w1"), NOW + 5)
    assert fetched.job is not None
    assert (fetched.job.id, fetched.job.attempts_started, fetched.job.processed_on_ms) == (
        "1",
        1,
        NOW + 5,
    )
    assert fetched.job.processed_by == "w1"
    assert await raw.get(k.lock("1")) == "tok-1"
    assert 29_000 < await raw.pttl(k.lock("1")) <= 30_000
    assert await raw.lrange(k.key("active"), 0, -1) == ["1"]
    fields = await raw.hgetall(k.job("1"))
    assert (fields["processedOn"], fields["ats"], fields["pb"]) == (str(NOW + 5), "1", "w1")
    assert (await events(raw, k))[-1] == ("active", {"jobId": "1", "prev": "waiting"})
    assert await raw.zrange(k.key("marker"), 0, -1, withscores=True) == [("0", 0.0)]


async def test_fetch_order_lifo_then_fifo_then_priority(backend, raw, k, queue_name):
    await backend.add_jobs(
        queue_name,
        [job("p2", priority=2), job("p1", priority=1), job("a"), job("b"), job("l", lifo=True)],
    )
    names = []
    for _ in range(5):
        fetched = await backend.move_to_active(queue_name, req(), NOW)
        assert fetched.job is not None
        names.append(fetched.job.name)
    assert names == ["l", "a", "b", "p1", "p2"]
    # the priority counter is dropped once prioritized runs empty
    assert (await backend.move_to_active(queue_name, req(), NOW)).job is None
    assert await raw.exists(k.key("pc")) == 0


async def test_promoted_prioritized_job_gets_a_fresh_priority_score(backend, raw, k, queue_name):
    await backend.add_jobs(queue_name, [job(delay_ms=10, priority=4)])
    await backend.pause(queue_name)
    assert (await backend.move_to_active(queue_name, req(), NOW + 10)).job is None
    assert await raw.zrange(k.key("prioritized"), 0, -1, withscores=True) == [("1", 4 * P32 + 1)]
    # promoted while paused: no base marker
    assert await raw.zscore(k.key("marker"), "0") is None


async def test_rate_limit_stops_a_worker_without_its_own_limiter(backend, raw, k, queue_name):
    await backend.add_jobs(queue_name, [job()])
    await backend.rate_limit(queue_name, 5_000, NOW)
    assert await raw.get(k.key("limiter")) == "9007199254740991"
    fetched = await backend.move_to_active(queue_name, req(), NOW)
    assert fetched.job is None
    assert 4_000 < fetched.rate_limited_for_ms <= 5_000
    assert 4_000 < await backend.get_rate_limit_ttl(queue_name, NOW) <= 5_000
    assert await raw.lrange(k.key("wait"), 0, -1) == ["1"]


async def test_global_max_in_meta_limits_every_worker(backend, raw, k, queue_name):
    await raw.hset(k.key("meta"), mapping={"max": 1, "duration": 10_000})
    await backend.add_jobs(queue_name, [job(), job()])
    assert (await backend.move_to_active(queue_name, req(), NOW)).job is not None
    assert (await backend.move_to_active(queue_name, req(), NOW)).rate_limited_for_ms > 9_000
    assert await backend.get_rate_limit_ttl(queue_name, NOW) > 9_000


# -- move_to_finished ---------------------------------------------------------------


async def test_complete_records_result_and_releases_lock(backend, raw, k, queue_name):
    job_id = await active_job(backend, queue_name)
    await raw.sadd(k.key("stalled"), job_id)
    result = await backend.move_to_finished(queue_name, job_id, "tok", Completed('"ok"'), NOW + 7)
    assert result is None
    fields = await raw.hgetall(k.job(job_id))
    assert (fields["atm"], fields["finishedOn"], fields["returnvalue"]) == (
        "1",
        str(NOW + 7),
        '"ok"',
    )
    assert await raw.zrange(k.key("completed"), 0, -1, withscores=True) == [(job_id, NOW + 7)]
    assert await raw.exists(k.lock(job_id), k.key("active"), k.key("stalled")) == 0
    assert (await events(raw, k))[-2:] == [
        ("completed", {"jobId": job_id, "returnvalue": '"ok"', "prev": "active"}),
        ("drained", {}),
    ]


async def test_fail_records_reason_and_exhausted_retries(backend, raw, k, queue_name):
    job_id = await active_job(backend, queue_name)
    await raw.hset(k.job(job_id), "defa", "x")
    outcome = Failed("boom", stacktrace='["at x"]', attempts=1)
    await backend.move_to_finished(queue_name, job_id, "tok", outcome, NOW)
    fields = await raw.hgetall(k.job(job_id))
    assert (fields["failedReason"], fields["stacktrace"], fields["atm"]) == (
        "boom",
        '["at x"]',
        "1",
    )
    assert "defa" not in fields
    assert await raw.zrange(k.key("failed"), 0, -1) == [job_id]
    assert ("failed", {"jobId": job_id, "failedReason": "boom", "prev": "active"}) in await events(
        raw, k
    )
    assert ("retries-exhausted", {"jobId": job_id, "attemptsMade": "1"}) in await events(raw, k)


async def test_finishes_asked_for_together_ride_in_one_script_call(backend, raw, k, queue_name):
    # With none in flight the first finish goes at once (Redis is idle); the ones
    # asked for while it runs are sent together, in one call.
    # The script is known to the server first (a first call may be refused NOSCRIPT).
    warm = await active_job(backend, queue_name, "w")
    await backend.move_to_finished(queue_name, warm, "w", Completed("0"), NOW)
    ids = [await backend.add_jobs(queue_name, [job()]) for _ in range(5)]
    first = []
    for n in range(3):
        taken = (await backend.move_to_active(queue_name, req(f"t{n}"), NOW)).job
        assert taken is not None
        first.append(taken.id)
    before = (await raw.info("commandstats")).get("cmdstat_evalsha", {}).get("calls", 0)
    results = await asyncio.gather(
        backend.move_to_finished(queue_name, first[0], "t0", Completed("1"), NOW, req("n0")),
        backend.move_to_finished(queue_name, first[1], "bad", Completed("2"), NOW, req("n1")),
        backend.move_to_finished(queue_name, first[2], "t2", Failed("x"), NOW, req("n2")),
        return_exceptions=True,
    )
    after = (await raw.info("commandstats"))["cmdstat_evalsha"]["calls"]
    assert after - before == 2
    assert isinstance(results[1], LockMismatchError)
    fetched = [r.job.id for r in (results[0], results[2])]  # type: ignore[union-attr]
    assert fetched == [ids[3][0], ids[4][0]]
    assert await raw.get(k.lock(fetched[0])) == "n0"
    assert await raw.get(k.lock(fetched[1])) == "n2"
    assert await raw.zrange(k.key("completed"), 0, -1) == [warm, first[0]]
    assert await raw.zrange(k.key("failed"), 0, -1) == [first[2]]
    assert await raw.get(k.lock(first[1])) == "t1"


# -- refusals change nothing --------------------------------------------------------

OPERATIONS = {
    "move_to_finished": lambda b, q, i, t: b.move_to_finished(q, i, t, Completed("1"), NOW),
    "retry_job": lambda b, q, i, t: b.retry_job(q, i, t, Retry("x"), NOW),
    "move_to_wait": lambda b, q, i, t: b.move_to_wait(q, i, t, NOW),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
async def test_wrong_token_is_refused_and_changes_nothing(backend, raw, k, queue_name, operation):
    job_id = await active_job(backend, queue_name)
    before = await snapshot(raw, k)
    with pytest.raises(LockMismatchError) as info:
        await OPERATIONS[operation](backend, queue_name, job_id, "other")
    assert (info.value.job_id, info.value.operation) == (job_id, operation)
    assert await snapshot(raw, k) == before


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
async def test_expired_lock_is_refused_and_changes_nothing(backend, raw, k, queue_name, operation):
    job_id = await active_job(backend, queue_name)
    await raw.delete(k.lock(job_id))
    before = await snapshot(raw, k)
    with pytest.raises(MissingLockError):
        await OPERATIONS[operation](backend, queue_name, job_id, "tok")
    assert await snapshot(raw, k) == before


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
async def test_job_not_active_is_refused_and_changes_nothing(
    backend, raw, k, queue_name, operation
):
    (job_id,) = await backend.add_jobs(queue_name, [job()])
    await raw.set(k.lock(job_id), "tok", px=30_000)
    before = await snapshot(raw, k)
    with pytest.raises(JobStateError):
        await OPERATIONS[operation](backend, queue_name, job_id, "tok")
    assert await snapshot(raw, k) == before


# -- retry_job / move_to_wait ---------------------------------------------------------


async def test_immediate_retry_respects_lifo_and_priority(backend, raw, k, queue_name):
    await backend.add_jobs(queue_name, [job("filler")])
    (lifo_id,) = await backend.add_jobs(
        queue_name, [NewJob("l", "{}", '{"lifo":true,"attempts":3}', NOW, lifo=True)]
    )
    assert (await backend.move_to_active(queue_name, req(), NOW)).job.id == lifo_id
    await backend.retry_job(queue_name, lifo_id, "tok", Retry("x"), NOW)
    assert (await raw.lrange(k.key("wait"), 0, -1))[-1] == lifo_id

    await backend.add_jobs(queue_name, [job("p", priority=7, job_id="prio")])
    await raw.delete(k.key("wait"))
    assert (await backend.move_to_active(queue_name, req("t2"), NOW)).job.id == "prio"
    await backend.retry_job(queue_name, "prio", "t2", Retry("x"), NOW)
    assert await raw.zrange(k.key("prioritized"), 0, -1, withscores=True) == [("prio", 7 * P32 + 2)]


async def test_move_to_wait_returns_the_rate_limit_left(backend, raw, k, queue_name):
    job_id = await active_job(backend, queue_name, priority=5)
    await backend.rate_limit(queue_name, 5_000, NOW)
    assert 4_000 < await backend.move_to_wait(queue_name, job_id, "tok", NOW) <= 5_000
    # prioritized: exactly priority * 2**32, ahead of its peers
    assert await raw.zrange(k.key("prioritized"), 0, -1, withscores=True) == [(job_id, 5 * P32)]


# -- locks ------------------------------------------------------------------------------


async def test_extend_lock_tells_an_expired_lock_from_a_finished_or_missing_job(
    backend, raw, k, queue_name
):
    job_id = await active_job(backend, queue_name)
    await raw.delete(k.lock(job_id))
    with pytest.raises(MissingLockError, match="lock expired"):
        await backend.extend_lock(queue_name, job_id, "tok", 60_000, NOW)
    assert await raw.exists(k.lock(job_id)) == 0
    done = await active_job(backend, queue_name, token="t2")
    await backend.move_to_finished(queue_name, done, "t2", Completed("1"), NOW)
    with pytest.raises(MissingLockError, match="already completed"):
        await backend.extend_lock(queue_name, done, "t2", 60_000, NOW)
    with pytest.raises(JobNotFoundError):
        await backend.extend_lock(queue_name, "ghost", "tok", 60_000, NOW)


async def test_extend_locks_reports_each_refusal_with_its_code(backend, raw, k, queue_name):
    first = await active_job(backend, queue_name, token="a")
    second = await active_job(backend, queue_name, token="b")
    third = await active_job(backend, queue_name, token="c")
    await raw.delete(k.lock(second))
    refused = await backend.extend_locks(
        queue_name, [(first, "a"), (second, "b"), (third, "x"), ("ghost", "d")], 60_000, NOW
    )
    assert refused == {
        second: ErrorCode.JOB_LOCK_NOT_EXIST,
        third: ErrorCode.JOB_LOCK_MISMATCH,
        "ghost": ErrorCode.JOB_NOT_EXIST,
    }
    assert await raw.pttl(k.lock(first)) > 59_000
    assert await raw.get(k.lock(third)) == "c"
    assert await backend.extend_locks(queue_name, [], 60_000, NOW) == {}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("outcome", [Completed("1"), Failed("boom")])
async def test_moving_a_finished_job_says_it_already_finished(
    backend, raw, k, queue_name, operation, outcome
):
    job_id = await active_job(backend, queue_name)
    await backend.move_to_finished(queue_name, job_id, "tok", outcome, NOW)
    state = "completed" if isinstance(outcome, Completed) else "failed"
    before = await snapshot(raw, k)
    with pytest.raises(MissingLockError, match=f"job '{job_id}' already {state}"):
        await OPERATIONS[operation](backend, queue_name, job_id, "tok")
    assert await snapshot(raw, k) == before


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
async def test_a_locked_job_that_is_not_active_is_refused_with_its_state(
    backend, raw, k, queue_name, operation
):
    (job_id,) = await backend.add_jobs(queue_name, [job(delay_ms=60_000)])
    await raw.set(k.lock(job_id), "tok", px=30_000)
    with pytest.raises(JobStateError, match=f"job '{job_id}' is delayed, not active"):
        await OPERATIONS[operation](backend, queue_name, job_id, "tok")
