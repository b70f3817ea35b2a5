"""QueueEvents: a queue's events, in order, resumable from the last id seen."""

from __future__ import annotations

import asyncio

from corral import Queue, QueueEvent, QueueEvents
from tests.conformance.conftest import WorkerFactory


async def collect(events: QueueEvents, until: str, limit: int = 200) -> list[QueueEvent]:
    seen: list[QueueEvent] = []
    async with asyncio.timeout(10):
        while not any(e.event == until for e in seen):
            seen.extend(await events.read(block=0.2))
            assert len(seen) < limit
    return seen


async def test_events_follow_a_job_through_its_life(
    url: str, queue_name: str, queue: Queue, make_worker: WorkerFactory
) -> None:
    async with QueueEvents(queue_name, url=url) as events:
        assert await events.read(block=0.05) == []  # starts at "now"
        await queue.add("work", {"n": 1})
        worker = make_worker()
        job = await worker.get_next_job("t")
        assert job is not None
        await job.update_progress({"pct": 50})
        await job.move_to_completed({"ok": True}, "t", fetch_next=False)
        seen = await collect(events, "completed")
    names = [e.event for e in seen if e.job_id == job.id]
    assert names[:3] == ["added", "waiting", "active"]
    assert "progress" in names
    progress = next(e for e in seen if e.event == "progress")
    assert progress.progress == {"pct": 50}
    completed = next(e for e in seen if e.event == "completed")
    assert completed.job_id == job.id
    assert completed.return_value == {"ok": True}
    assert completed.prev == "active"


async def test_failed_delayed_and_queue_events(
    url: str, queue_name: str, queue: Queue, make_worker: WorkerFactory
) -> None:
    async with QueueEvents(queue_name, url=url) as events:
        await queue.add("later", {}, delay=60)
        await queue.add("bad", {})
        job = await make_worker().get_next_job("t")
        assert job is not None
        await job.move_to_failed(RuntimeError("it broke"), "t")
        await queue.pause()
        await queue.resume()
        seen = await collect(events, "resumed")
    by_name = {e.event: e for e in seen}
    assert by_name["failed"].failed_reason == "it broke"
    assert by_name["delayed"].delay is not None
    assert by_name["delayed"].delay > 0
    assert "paused" in by_name
    assert "drained" in by_name


async def test_resume_from_last_event_id_misses_nothing(
    url: str, queue_name: str, queue: Queue
) -> None:
    async with QueueEvents(queue_name, url=url) as events:
        await queue.add("one", {})
        first = await collect(events, "waiting")
        last = events.last_event_id
        assert last == first[-1].id
    await queue.add("two", {})
    async with QueueEvents(queue_name, url=url, last_event_id=last) as resumed:
        later = await collect(resumed, "waiting")
    assert [e.job_id for e in later if e.event == "added"] == ["2"]


async def test_iterating_stops_on_close(url: str, queue_name: str, queue: Queue) -> None:
    events = QueueEvents(queue_name, url=url, block=0.1)
    got: list[str] = []
    added = asyncio.Event()

    async def consume() -> None:
        async for event in events:
            got.append(event.event)
            if event.event == "added":
                added.set()

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    await queue.add("x", {})
    await asyncio.wait_for(added.wait(), 10)
    await events.close()
    await asyncio.wait_for(task, 5)
