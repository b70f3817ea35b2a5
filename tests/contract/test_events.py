"""read_events and events_cursor: a queue's event log read by cursor, blocking for
new events only as long as asked. (What each operation emits is asserted in that
operation's file.)"""

from __future__ import annotations

import asyncio

from corral.backends.base import Backend
from tests.contract.support import Clock, job

BLOCK_MS = 30_000
"""Long enough that a reader is still blocked when the event comes; never waited out."""


async def test_a_queue_without_events_has_the_cursor_zero(backend: Backend, queue: str) -> None:
    assert await backend.events_cursor(queue) == "0"
    assert await backend.read_events(queue, "0") == []
    assert await backend.read_events(queue, None) == []


async def test_reading_from_a_cursor_returns_the_later_events_oldest_first(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    first = await backend.read_events(queue, "0", count=1)
    assert [e.name for e in first] == ["added"]
    rest = await backend.read_events(queue, first[-1].id)
    assert [e.name for e in rest] == ["waiting"]
    assert rest[0].id != first[0].id
    assert await backend.read_events(queue, rest[-1].id) == []


async def test_none_and_the_newest_cursor_read_only_new_events(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    assert await backend.read_events(queue, None) == []
    cursor = await backend.events_cursor(queue)
    assert await backend.read_events(queue, cursor) == []
    await backend.pause(queue)
    assert [e.name for e in await backend.read_events(queue, cursor)] == ["paused"]


async def test_count_caps_how_many_events_one_read_returns(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now) for _ in range(5)])
    assert len(await backend.read_events(queue, "0", count=3)) == 3
    assert len(await backend.read_events(queue, "0", count=100)) == 10


async def test_a_blocked_read_returns_when_an_event_arrives(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    cursor = await backend.events_cursor(queue)
    reader = asyncio.create_task(backend.read_events(queue, cursor, block_ms=BLOCK_MS))
    await asyncio.sleep(0.05)  # let the reader block first
    await backend.pause(queue)
    got = await asyncio.wait_for(reader, 10)  # well short of BLOCK_MS: woken, not timed out
    assert [e.name for e in got] == ["paused"]


async def test_a_blocked_read_with_nothing_new_returns_nothing(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    cursor = await backend.events_cursor(queue)
    assert await backend.read_events(queue, cursor, block_ms=30) == []
