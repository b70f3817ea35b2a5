"""A running check of the Redis Cluster key contract: every key a script touches
that its caller knew is in ``KEYS``.

:func:`checking_keys` makes every shipped script, for the length of a test, start
with a few lines of Lua that see each command the script sends: a key the
command names that is not in ``KEYS`` is written to the list
:data:`LOG` (with the call's ``KEYS`` and ``ARGV``, once per call).
:func:`breaches` then reads that list and keeps what breaks the contract:

* a key of the queue itself (``<base>wait``, ``<base>meta`` ... the base taken
  from a queue key the script declares);
* a key of a job or scheduler the caller named (:data:`NAMED`,
  :data:`NAMED_KEYS`, :data:`SCHEDULERS`: where a call holds those ids),
  ``<base><id>`` and ``<base><id>:<suffix>``;
* for a script that declares no queue key (it is about given jobs only), any key.

A key the script found while it ran (a job id popped from a list, a parent
named in a job's hash, an iteration id made from the stored schedule) is not
reported: no caller could pass it. The scripts in :data:`WALKERS` are not
checked at all: they walk jobs found at run time, and touch whatever keys those
jobs have; they are correct on a Cluster because every key of a queue shares
one hash slot (corral refuses a prefix that would not).

This runs on a standalone server only: the log is one key outside every
queue's slot, which a Cluster would refuse.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from corral.backends.keyspace import QUEUE_SUFFIXES
from corral.backends.redis.scripts import Script, load_script, script_names

LOG = "corral-key-check"

WALKERS = {
    "clean": "removes the old jobs it finds in a state's list or set",
    "drain": "removes the waiting (and delayed) jobs it finds",
    "obliterate": "removes every job it finds, then every key of the queue by suffix",
    "move_stalled_to_wait": "walks the active jobs whose lock it finds gone",
    "move_jobs_to_wait": "moves the finished or delayed jobs it finds back to wait",
    "get_jobs": "reads the hashes of the ids it finds in the states' ranges",
}
"""Scripts that walk jobs found at run time, with why each is correct on a Cluster
without naming those jobs: all keys of a queue share one hash slot."""


def _every(start: int, stride: int) -> Callable[[Sequence[str]], list[str]]:
    return lambda argv: [v for v in argv[start - 1 :: stride] if v]


def _at(*positions: int) -> Callable[[Sequence[str]], list[str]]:
    return lambda argv: [argv[p - 1] for p in positions if p <= len(argv)]


NAMED: dict[str, Callable[[Sequence[str]], list[str]]] = {
    "extend_lock": _at(1),
    "extend_locks": _every(2, 2),
    "get_state": _at(1),
    "update_progress": _at(1),
    "promote": _at(1),
    "move_to_wait": _at(1),
    "move_to_delayed": _at(1),
    "move_to_waiting_children": _at(1),
    "change_delay": _at(1),
    "change_priority": _at(1),
    "reprocess_job": _at(1),
    "retry_job": _at(2),
    "remove_job": _at(2),
    "cancel_job": _at(2),
    "move_to_finished": _every(2, 17),
    "add_jobs": _every(2, 11),
}
"""Per script, the job ids its caller named (from its ``ARGV``)."""


def _flow_nodes(keys: Sequence[str], argv: Sequence[str]) -> list[str]:
    """add_flow's named job keys: each custom id's hash and each parent's."""
    named = []
    for i in range(2, len(argv), 15):
        base = keys[int(argv[i]) - 1][: -len("id")]
        if argv[i + 1]:
            named.append(base + argv[i + 1])
        if argv[i + 10]:
            named.append(argv[i + 10])
    return named


NAMED_KEYS: dict[str, Callable[[Sequence[str], Sequence[str]], list[str]]] = {
    "add_flow": _flow_nodes,
}
"""Per script, the job keys its caller named (from its ``KEYS`` and ``ARGV``), for
a script about jobs of several queues."""

SCHEDULERS: dict[str, Callable[[Sequence[str]], list[str]]] = {
    "upsert_job_scheduler": _at(2),
    "add_next_iteration": _at(2),
    "remove_job_scheduler": _at(2),
}
"""Per script, the scheduler ids its caller named (their ``repeat:<id>`` hash)."""


def _prelude(name: str, key_specs: dict[str, tuple[int, int, int]]) -> str:
    specs = ", ".join(f'["{c}"] = {{{f}, {la}, {s}}}' for c, (f, la, s) in key_specs.items())
    return f"""
local check_real = redis
local check_declared, check_seen, check_call = {{}}, {{}}, nil
for check_i = 1, #KEYS do
  check_declared[KEYS[check_i]] = true
end
local check_specs = {{{specs}}}
local function check_keys(command, ...)
  local spec = check_specs[string.lower(command)]
  local n = select("#", ...)
  if not spec then
    error("key check: no key positions known for " .. command)
  end
  if spec[1] == 0 then
    return  -- a command that names no key (TIME)
  end
  local last = spec[2] < 0 and n + spec[2] + 1 or spec[2]
  for i = spec[1], math.min(last, n), spec[3] do
    local key = select(i, ...)
    if not check_declared[key] and not check_seen[key] then
      check_seen[key] = true
      if not check_call then
        check_call = check_real.call("INCR", "{LOG}:calls")
        check_real.call("RPUSH", "{LOG}", cjson.encode(
          {{call = check_call, script = "{name}", keys = KEYS, argv = ARGV}}))
      end
      check_real.call("RPUSH", "{LOG}", cjson.encode(
        {{call = check_call, key = key, command = command}}))
    end
  end
end
local redis = setmetatable({{
  call = function(command, ...) check_keys(command, ...) return check_real.call(command, ...) end,
  pcall = function(command, ...) check_keys(command, ...) return check_real.pcall(command, ...) end,
}}, {{__index = check_real}})
"""


def _list(value: Any) -> list[str]:
    return list(value) if isinstance(value, list) else []  # cjson writes {} for an empty table


def _bases(script: Script, keys: Sequence[str]) -> list[str]:
    """The base keys of the queues a call declares: from the header's first queue
    key, else from each declared id counter (``<base>id``)."""
    for index, suffix in enumerate(script.keys):
        if suffix != "base" and index < len(keys) and keys[index].endswith(suffix):
            return [keys[index][: -len(suffix)]]
    return [k[: -len("id")] for k in keys if k.endswith(":id")]


def _none(argv: Sequence[str]) -> list[str]:
    return []


def _no_keys(keys: Sequence[str], argv: Sequence[str]) -> list[str]:
    return []


def breach(call: dict[str, Any], key: str, script: Script) -> str | None:
    """Why the access to ``key`` by the logged ``call`` of ``script`` breaks the
    contract, or None."""
    name = call["script"]
    keys, argv = _list(call["keys"]), _list(call["argv"])
    bases = _bases(script, keys)
    if not bases:
        return "a script about given jobs only touched a key it was not given"
    if any(key.startswith(b) and key[len(b) :] in QUEUE_SUFFIXES for b in bases):
        return "a key of the queue, not in KEYS"
    for job_key in NAMED_KEYS.get(name, _no_keys)(keys, argv):
        if key == job_key or key.startswith(f"{job_key}:"):
            return f"a key of job {job_key!r}, which the caller named"
    base = bases[0]
    for job_id in NAMED.get(name, _none)(argv):
        if key == base + job_id or key.startswith(f"{base}{job_id}:"):
            return f"a key of job {job_id!r}, which the caller named"
    for scheduler_id in SCHEDULERS.get(name, _none)(argv):
        if key == f"{base}repeat:{scheduler_id}":
            return f"the hash of scheduler {scheduler_id!r}, which the caller named"
    return None


def instrument(
    script: Script, key_specs: dict[str, tuple[int, int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Make ``script`` run with the check's prelude until ``monkeypatch`` undoes it."""
    source = _prelude(script.name, key_specs) + script.source
    monkeypatch.setattr(script, "source", source)
    monkeypatch.setattr(script, "sha", hashlib.sha1(source.encode()).hexdigest())


@contextmanager
def checking_keys(
    monkeypatch: pytest.MonkeyPatch, key_specs: dict[str, tuple[int, int, int]]
) -> Iterator[None]:
    """Run every script but :data:`WALKERS` with the check's prelude while the
    block runs."""
    for name in script_names():
        if name not in WALKERS:
            instrument(load_script(name), key_specs, monkeypatch)
    yield


async def key_specs(client: Any) -> dict[str, tuple[int, int, int]]:
    """Where each command the scripts send names its keys (first, last, step), from
    the server's COMMAND INFO; ``client`` is a corral RedisClient."""
    commands = sorted(commands_used())
    info = await client.execute("COMMAND", "INFO", *commands)
    return {c: (int(i[3]), int(i[4]), int(i[5])) for c, i in zip(commands, info, strict=True)}


def commands_used() -> set[str]:
    """Every Redis command a shipped script sends (lower case)."""
    found: set[str] = set()
    for name in script_names():
        found |= {
            c.lower() for c in re.findall(r'redis\.p?call\("(\w+)"', load_script(name).source)
        }
    return found


def breaches(log: Sequence[str], scripts: Callable[[str], Script] = load_script) -> list[str]:
    """The contract breaches among the logged accesses (``scripts``: a script by name)."""
    calls: dict[int, dict[str, Any]] = {}
    found = []
    for raw in log:
        entry = json.loads(raw)
        if "script" in entry:
            calls[entry["call"]] = entry
            continue
        call = calls[entry["call"]]
        why = breach(call, entry["key"], scripts(call["script"]))
        if why is not None:
            found.append(f"{call['script']}: {entry['command']} {entry['key']}: {why}")
    return sorted(set(found))
