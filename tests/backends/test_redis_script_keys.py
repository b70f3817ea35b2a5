"""The Redis Cluster contract of the Lua scripts: a key known before a call comes
in ``KEYS``, never built in the script from what the caller handed it.

Two checks. A static one (:mod:`tests.backends.lua_keys`) reads every script
and refuses one that joins the queue's base key with a value from ``ARGV``
outside :data:`ALLOWED`. A running one (:mod:`tests.key_check`) watches every
command the scripts send while the conformance suite runs on a standalone
server (its ``declared_keys`` fixture); the tests here prove that each check
catches what it is for.
"""

from __future__ import annotations

import pytest

from corral.backends.redis.client import RedisClient
from corral.backends.redis.scripts import Script, script_names
from tests import key_check
from tests.backends.lua_keys import key_building
from tests.key_check import LOG, WALKERS, breaches, instrument, key_specs

ITERATION = "an iteration's id is made from the stored schedule, read in the script"

ALLOWED: dict[str, dict[str, str]] = {
    "upsert_job_scheduler": {
        "base .. pending": ITERATION,
        "base .. id": ITERATION,
        "add_iteration(": ITERATION,
    },
    "add_next_iteration": {"base .. id": ITERATION, "add_iteration(": ITERATION},
    "remove_job_scheduler": {"base .. pending": ITERATION},
}
"""Per script, the joins the static check may find (by how they start), and why
each is a key no caller could name."""


@pytest.mark.parametrize("name", script_names())
def test_no_script_builds_a_key_its_caller_could_have_passed(name: str) -> None:
    if name in WALKERS:
        pytest.skip(f"{name}: {WALKERS[name]}")
    allowed = ALLOWED.get(name, {})
    found = [f for f in key_building(name) if not any(f.text.startswith(a) for a in allowed)]
    assert not found, "pass these keys in KEYS: " + "; ".join(map(str, found))


def test_the_allow_lists_name_only_shipped_scripts() -> None:
    assert set(ALLOWED) | set(WALKERS) <= set(script_names())


BAD = """--[[
  bad: a script that builds its job's key from ARGV.

  KEYS[1]  meta  HASH

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  job id
]]
local base, id = ARGV[1], ARGV[2]
local job_key = base .. id
redis.call("HGET", KEYS[1], "paused")
return redis.call("HSET", job_key .. ":lock", "x", "1")
"""


def test_the_static_check_finds_a_key_built_from_argv() -> None:
    assert [f.text for f in key_building("bad", BAD)] == ["base .. id"]
    fixed = BAD.replace("local job_key = base .. id", "local job_key = KEYS[2]")
    assert key_building("bad", fixed) == []


def test_the_static_check_follows_an_include_that_builds_the_key() -> None:
    source = BAD.replace("local job_key = base .. id", "return refuse_with_state(-3, base, id)")
    assert [f.text for f in key_building("bad", source)] == ["refuse_with_state(-3, base, id)"]
    runtime = source.replace("base, id)", 'base, redis.call("RPOP", KEYS[1]))')
    assert key_building("bad", runtime) == []


RUNNING = """--[[
  bad: touches a queue key and its job's lock without naming them, and another
  job's hash (as a script that found that job would).

  KEYS[1]  meta  HASH

  ARGV[1]  base key "<prefix>:<queue>:"
  ARGV[2]  job id
]]
local base = ARGV[1]
redis.call("HGET", KEYS[1], "paused")
redis.call("LLEN", base .. "wait")
redis.call("GET", base .. ARGV[2] .. ":lock")
return redis.call("HGET", base .. "9", "name")
"""


async def test_the_running_check_reports_keys_a_caller_knew_and_not_in_keys(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(key_check.NAMED, "bad", lambda argv: [argv[1]])
    script = Script("bad", RUNNING)
    client = RedisClient(redis_url)
    try:
        instrument(script, await key_specs(client), monkeypatch)
        await client.execute("DEL", LOG, f"{LOG}:calls")
        base = "bull:checked:"
        await client.execute("EVAL", script.source, 1, f"{base}meta", base, "7")
        found = breaches(await client.execute("LRANGE", LOG, 0, -1), lambda _: script)
    finally:
        await client.execute("DEL", LOG, f"{LOG}:calls")
        await client.close()
    assert found == [
        f"bad: GET {base}7:lock: a key of job '7', which the caller named",
        f"bad: LLEN {base}wait: a key of the queue, not in KEYS",
    ]
