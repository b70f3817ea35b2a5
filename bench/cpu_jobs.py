"""The CPU-bound job of ``python -m bench.cpu``, as each contender runs it.

Every contender runs the same pure-Python loop of ``k`` steps (the harness picks
``k`` for about 20 ms on this machine) and pushes ``"<start> <end>"`` (wall-clock
seconds) onto one Redis list, so the harness measures every contender the same
way: from the first job's start to the last job's end.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis

STAMPS = "bench:cpu:stamps"
"""The Redis list each finished job pushes its start and end times onto."""

_client: redis.Redis | None = None
_client_pid = 0


def _stamps() -> redis.Redis:
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():  # a forked child needs its own
        _client = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
        _client_pid = os.getpid()
    return _client


def burn(k: int) -> int:
    """``k`` steps of pure-Python arithmetic (the GIL is held throughout)."""
    total = 0
    for i in range(k):
        total = (total + i * i) % 1_000_003
    return total


def timed_burn(k: int) -> int:
    """:func:`burn`, stamped on the Redis list."""
    started = time.time()
    result = burn(k)
    _stamps().rpush(STAMPS, f"{started} {time.time()}")
    return result


def corral_burn(job: Any) -> int:
    """The corral processor (a plain function; it runs in a child with ``processes``)."""
    return timed_burn(job.data["k"])


def rq_burn(k: int) -> int:
    """The RQ job (the default RQ worker forks a work horse per job)."""
    return timed_burn(k)


def noop(job: Any) -> None:
    """The no-op job of the boundary measurement: read the payload, return nothing."""
    job.data.get("i")
