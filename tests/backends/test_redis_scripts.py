"""The Lua scripts as shipped: every one expands its includes, loads into Redis,
declares every key it reads, and is reloaded after the server forgets it."""

from __future__ import annotations

import re

import pytest

from corral.backends.base import Backend, Completed, FetchRequest, JobState, NewJob
from corral.backends.redis import RedisBackend
from corral.backends.redis.keys import QUEUE_SUFFIXES
from corral.backends.redis.scripts import expand_includes, load_script, script_names


@pytest.mark.parametrize("name", script_names())
async def test_script_expands_and_loads(raw, name):
    script = load_script(name)
    assert not re.search(r"^--- @include", script.source, re.MULTILINE)
    assert await raw.script_load(script.source) == script.sha


@pytest.mark.parametrize("name", script_names())
def test_script_header_declares_every_key_it_uses(name):
    script = load_script(name)
    used = {int(i) for i in re.findall(r"KEYS\[(\d+)\]", script.source.split("]]", 1)[1])}
    declared = len(script.keys) + len(script.call_keys) + len(script.job_keys)
    assert used <= set(range(1, declared + 1))
    assert set(script.keys) <= QUEUE_SUFFIXES | {"base"}
    assert all(k == "job" or k.startswith("job:") for k in script.job_keys)


def test_every_backend_operation_needing_atomicity_has_its_script():
    operations = {n for n in dir(Backend) if not n.startswith("_")}
    assert set(script_names()) <= operations


def test_include_is_inserted_once():
    source = '--- @include "queue"\n--- @include "queue"\n'
    assert expand_includes(source).count("local function promote_due") == 1


async def test_scripts_are_reloaded_after_script_flush(raw, redis_url, queue_name):
    backend = RedisBackend(redis_url)
    try:
        await backend.add_jobs(queue_name, [NewJob("a", "{}", "{}", 1)])
        await raw.script_flush()
        fetched = await backend.move_to_active(queue_name, FetchRequest("t", 1_000), 1)
        assert fetched.job is not None
    finally:
        await backend.close()


async def test_a_finish_after_script_flush_loads_the_script_and_runs_once(
    raw, redis_url, queue_name
):
    """A finish sent on an open connection meets NOSCRIPT after a SCRIPT FLUSH: the
    script is loaded and the finish runs, once (the refused call did nothing)."""
    backend = RedisBackend(redis_url)
    try:
        await backend.add_jobs(queue_name, [NewJob("a", "{}", "{}", 1), NewJob("b", "{}", "{}", 1)])
        first = await backend.move_to_active(queue_name, FetchRequest("t", 60_000), 1)
        assert first.job is not None
        await raw.script_flush()
        fetched = await backend.move_to_finished(
            queue_name, first.job.id, "t", Completed('"ok"'), 2, FetchRequest("t", 60_000)
        )
        assert fetched is not None
        assert fetched.job is not None
        assert fetched.job.name == "b"
        assert await backend.get_state(queue_name, first.job.id) is JobState.COMPLETED
        assert await raw.zcard(f"bull:{queue_name}:completed") == 1
    finally:
        await backend.close()


async def test_a_corrupt_counter_never_strands_a_job(redis_url: str, queue_name: str) -> None:
    """A non-integer counter must not make a script fail after it moved the job."""
    from corral._clock import now_ms
    from corral.backends.base import Completed, FetchRequest, JobState, NewJob
    from corral.backends.redis import RedisBackend
    from corral.backends.redis.client import RedisClient

    backend = RedisBackend(redis_url)
    raw = RedisClient(redis_url)
    try:
        now = now_ms()
        await backend.add_jobs(queue_name, [NewJob("j", "{}", "{}", now)])
        await raw.execute("HSET", f"bull:{queue_name}:1", "ats", "x")
        fetched = await backend.move_to_active(queue_name, FetchRequest("t", 30_000), now)
        assert fetched.job is not None
        assert fetched.job.attempts_started == 1
        await raw.execute("HSET", f"bull:{queue_name}:1", "atm", "y")
        await backend.move_to_finished(queue_name, "1", "t", Completed("1"), now)
        assert await backend.get_state(queue_name, "1") == JobState.COMPLETED
        record = await backend.get_job(queue_name, "1")
        assert record is not None
        assert record.attempts_made == 1
    finally:
        await raw.close()
        await backend.close()
