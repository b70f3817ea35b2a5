"""What the contract tests share: a driven clock, job builders and small readers.

The contract (``corral/backends/base.py``) gives every operation two clocks: the
caller's ``now`` and, for locks, the limiter and the stalled-check gate, the
store's own clock where it has one. :class:`Clock` moves both at once, so a test
body says ``await clock.advance(LOCK_MS)`` and never learns which backend runs it:

* **SQLite** has no clock of its own and judges everything by the ``now`` it is
  handed, so advancing :attr:`Clock.now` is all it takes.
* **Redis** expires those keys with ``PX`` by its server clock. Advancing takes
  the same time off every key of the test's queue that has an expiry (a raw
  ``PEXPIRE`` to what is left, or ``DEL`` when nothing is left), which is what the
  server does when that much time passes. Delayed jobs fall due by the ``now``
  handed in, on both.

Real time still passes between two steps on Redis (a few ms), so the ms a Redis
key has left are a little less than on SQLite: :func:`about` compares them with
a margin, and tests keep the times they drive well clear of a boundary.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis

from corral.backends.base import Backend, FetchRequest, JobRecord, JobState, NewJob
from corral.backends.redis.keys import QueueKeys

__all__ = [
    "ALL_STATES",
    "LOCK_MS",
    "PREFIX",
    "Clock",
    "StoreAccess",
    "about",
    "drain",
    "events_after",
    "fetch_one",
    "job",
    "req",
    "snapshot",
]

LOCK_MS = 30_000
"""The lock duration of a fetch unless a test says otherwise: far longer than a test runs."""

PREFIX = "bull"
"""The prefix :func:`corral.backends.open_backend` uses by default."""

SLACK_MS = 1_000
"""How far below the expected value a store-clock reading may be (real time passing)."""


class Clock:
    """The test's time: :attr:`now` for the ``now`` arguments, :meth:`advance` to move it.

    ``raw`` is a plain client on the Redis server of the test (None on SQLite);
    ``queue`` the test's queue name: only its keys are aged, under every prefix.
    """

    def __init__(self, raw: Redis | None, queue: str) -> None:
        self.now = time.time_ns() // 1_000_000
        """Epoch ms; starts at the real time, so due times mean the same to a store."""
        self._raw = raw
        self._pattern = f"*:{queue}:*"

    async def advance(self, ms: int) -> None:
        """Let ``ms`` pass: for the caller's ``now`` and for the store's own clock."""
        if ms <= 0:
            raise ValueError(f"advance by a positive number of ms, not {ms}")
        self.now += ms
        if self._raw is None:
            return
        async for key in self._raw.scan_iter(match=self._pattern, count=1000):
            left = int(await self._raw.pttl(key))
            if left < 0:  # -1: no expiry; -2: gone meanwhile
                continue
            if left <= ms:
                await self._raw.delete(key)
            else:
                await self._raw.pexpire(key, left - ms)


class StoreAccess:
    """Writes below the contract, for the few states no operation can reach."""

    def __init__(self, url: str, raw: Redis | None) -> None:
        self._url = url
        self._raw = raw

    async def lock_without_fetching(self, queue: str, job_id: str, token: str, now: int) -> None:
        """Give a job that is not active a live lock held by ``token`` for :data:`LOCK_MS`
        (from ``now`` on SQLite, from the server's clock on Redis).

        Only damage or a foreign writer leaves such a job; the contract still says
        how it is refused (``JOB_NOT_IN_STATE``, after the lock checks).
        """
        if self._raw is not None:
            await self._raw.set(QueueKeys(PREFIX, queue).lock(job_id), token, px=LOCK_MS)
            return
        db = sqlite3.connect(self._url[len("sqlite:///") :])
        try:
            with db:
                db.execute(
                    "UPDATE jobs SET token = ?, lock_until = ? WHERE id = ? "
                    "AND qid = (SELECT qid FROM queues WHERE name = ?)",
                    (token, now + LOCK_MS, job_id, f"{PREFIX}:{queue}"),
                )
        finally:
            db.close()


def about(got: int, expected: int) -> bool:
    """Whether ms left by the store's clock read ``expected``, give or take real time."""
    return expected - SLACK_MS < got <= expected


def job(name: str = "j", *, at: int, lifo: bool = False, **kw: Any) -> NewJob:
    """A job named ``name`` created at ``at`` (epoch ms); ``kw`` as :class:`NewJob`.

    Its ``opts`` agree with its fields, as the API's encoding makes them: a store
    may read ``lifo`` back from them (Redis does, to place a retried job).
    """
    opts = '{"attempts":0,"lifo":true}' if lifo else '{"attempts":0}'
    return NewJob(name=name, data='{"n":1}', opts=opts, timestamp_ms=at, lifo=lifo, **kw)


def req(token: str = "t1", **kw: Any) -> FetchRequest:
    """A fetch locking with ``token`` (for :data:`LOCK_MS` unless ``lock_duration_ms``
    says otherwise); ``kw`` as :class:`FetchRequest`."""
    kw.setdefault("lock_duration_ms", LOCK_MS)
    return FetchRequest(token=token, **kw)


async def fetch_one(
    backend: Backend, queue: str, clock: Clock, token: str = "t1", **kw: Any
) -> JobRecord:
    """Fetch the next job, which must exist."""
    fetched = await backend.move_to_active(queue, req(token, **kw), clock.now)
    assert fetched.job is not None, fetched
    return fetched.job


async def drain(backend: Backend, queue: str, clock: Clock) -> list[str]:
    """Fetch until nothing is handed out; the names in the order they came."""
    names: list[str] = []
    while (got := await backend.move_to_active(queue, req(), clock.now)).job is not None:
        names.append(got.job.name)
    return names


async def events_after(
    backend: Backend, queue: str, cursor: str
) -> list[tuple[str, dict[str, str]]]:
    """The queue's events after ``cursor`` as ``(name, fields)``, oldest first."""
    events = await backend.read_events(queue, cursor, count=10_000)
    return [(e.name, dict(e.fields)) for e in events]


ALL_STATES = (
    JobState.WAITING,
    JobState.PRIORITIZED,
    JobState.DELAYED,
    JobState.ACTIVE,
    JobState.COMPLETED,
    JobState.FAILED,
    JobState.WAITING_CHILDREN,
)
"""Every state a job can be listed or counted in."""


async def snapshot(backend: Backend, queue: str, *job_ids: str) -> Mapping[str, object]:
    """What a refusal must leave as it was: the jobs, their states, every count and
    the event log's cursor."""
    return {
        "jobs": [await backend.get_job(queue, i) for i in job_ids],
        "states": [await backend.get_state(queue, i) for i in job_ids],
        "counts": await backend.get_counts(queue, ALL_STATES),
        "events": await backend.events_cursor(queue),
    }
