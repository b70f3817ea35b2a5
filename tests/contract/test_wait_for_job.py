"""wait_for_job: block until work may be there, without busy polling. The answer is
a hint (0: a job may be ready; an epoch-ms time: when the next delayed job falls
due; None: timed out); these are the only tests that wait in real time, briefly."""

from __future__ import annotations

import asyncio
import contextlib
import time

from corral.backends import open_backend
from corral.backends.base import Backend, Fetched, JobState
from tests.contract.support import Clock, job, req

TIMEOUT_MS = 30_000
"""Long enough never to be reached when the wake-up works, even on a loaded machine."""

AT_ONCE = 10
"""Seconds within which an answer that needs no waiting comes, however loaded the
machine: well short of ``TIMEOUT_MS``, so a waiter that waited out its timeout fails."""


async def test_waiting_on_an_empty_queue_times_out(backend: Backend, queue: str) -> None:
    assert await backend.wait_for_job(queue, 30) is None


async def test_a_waiting_job_answers_at_once(backend: Backend, queue: str, clock: Clock) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    assert await asyncio.wait_for(backend.wait_for_job(queue, TIMEOUT_MS), AT_ONCE) == 0


async def test_a_job_added_through_another_connection_wakes_the_waiter(
    backend: Backend, queue: str, store_url: str, clock: Clock
) -> None:
    producer = open_backend(store_url)
    try:
        waiter = asyncio.create_task(backend.wait_for_job(queue, TIMEOUT_MS))
        await asyncio.sleep(0.05)  # let the waiter block first
        await producer.add_jobs(queue, [job(at=clock.now)])
        assert await asyncio.wait_for(waiter, AT_ONCE) == 0
    finally:
        await producer.close()


async def test_a_delayed_job_is_reported_by_when_it_falls_due(backend: Backend, queue: str) -> None:
    # wait_for_job compares due times with real time: create the job in real time
    at = time.time_ns() // 1_000_000
    await backend.add_jobs(queue, [job("d", at=at, delay_ms=100)])
    assert await asyncio.wait_for(backend.wait_for_job(queue, TIMEOUT_MS), AT_ONCE) == at + 100


# -- wait_and_fetch: the wait, and where the store can, the fetch as it wakes ----------


async def _taken_or_waiting(
    backend: Backend, queue: str, fetched: Fetched | None, token: str, clock: Clock
) -> str:
    """The id of the one job in ``queue``, which the result of ``wait_and_fetch``
    either holds (active, locked with ``token``) or left for an ordinary fetch."""
    if fetched is not None and fetched.job is not None:
        assert await backend.get_state(queue, fetched.job.id) is JobState.ACTIVE
        await backend.extend_lock(queue, fetched.job.id, token, 1_000, clock.now)  # ours
        return fetched.job.id
    later = await backend.move_to_active(queue, req("other"), clock.now)
    assert later.job is not None, "the job was neither handed out nor left waiting"
    return later.job.id


async def test_wait_and_fetch_hands_out_a_job_added_during_the_wait_or_leaves_it(
    backend: Backend, queue: str, store_url: str, clock: Clock
) -> None:
    producer = open_backend(store_url)
    try:
        waiter = asyncio.create_task(backend.wait_and_fetch(queue, TIMEOUT_MS, req("t1")))
        await asyncio.sleep(0.05)  # let the waiter block first
        (added,) = await producer.add_jobs(queue, [job(at=clock.now)])
        woke, fetched = await asyncio.wait_for(waiter, AT_ONCE)
    finally:
        await producer.close()
    assert woke == 0
    assert await _taken_or_waiting(backend, queue, fetched, "t1", clock) == added
    if fetched is not None and fetched.job is not None:
        # Fetched by the store's clock, now: processedOn is a real time, not 0.
        before = time.time_ns() // 1_000_000
        assert before - 10_000 <= fetched.job.processed_on_ms <= before + 1  # type: ignore[operator]


async def test_wait_and_fetch_times_out_on_an_empty_queue(backend: Backend, queue: str) -> None:
    woke, fetched = await backend.wait_and_fetch(queue, 30, req())
    assert woke is None
    assert fetched is None or fetched.job is None


async def test_a_cancelled_wait_and_fetch_loses_no_job(
    backend: Backend, queue: str, store_url: str, clock: Clock
) -> None:
    """Cancelled while blocked, then a job arrives: the job is not left active under
    a token nobody holds (it would stall back only when that lock expired)."""
    waiter = asyncio.create_task(backend.wait_and_fetch(queue, TIMEOUT_MS, req("gone")))
    await asyncio.sleep(0.05)
    waiter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiter
    (added,) = await backend.add_jobs(queue, [job(at=clock.now)])
    for _ in range(200):  # a fetch the cancelled wait still makes gives the job back
        if await backend.get_state(queue, added) is JobState.WAITING:
            break
        await asyncio.sleep(0.01)
    fetched = await backend.move_to_active(queue, req("next"), clock.now)
    assert fetched.job is not None
    assert fetched.job.id == added
    assert fetched.job.stalled_counter == 0
    assert fetched.job.attempts_made == 0


async def test_a_job_fetched_after_its_waiter_is_cancelled_goes_back_to_wait(
    backend: Backend, queue: str, store_url: str, clock: Clock
) -> None:
    """The job arrives the instant after the waiter is cancelled, before the wait
    can be called off: whatever the wait's fetch takes is given back to wait, ready
    for the next fetch, with no stall and no attempt used."""
    producer = open_backend(store_url)
    try:
        await producer.add_jobs(queue, [job("warm-up", at=clock.now)])  # connect first
        await producer.move_to_active(queue, req("warm-up"), clock.now)
        while await backend.wait_for_job(queue, 30) is not None:
            pass  # take the wake-up the fetch left for other workers
        waiter = asyncio.create_task(backend.wait_and_fetch(queue, TIMEOUT_MS, req("gone")))
        await asyncio.sleep(0.05)
        waiter.cancel()
        await asyncio.sleep(0)  # the waiter takes the cancel; nothing else ran yet
        (added,) = await producer.add_jobs(queue, [job(at=clock.now)])
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
    finally:
        await producer.close()
    state = JobState.ACTIVE
    for _ in range(200):
        state = await backend.get_state(queue, added)
        if state is JobState.WAITING:
            break
        await asyncio.sleep(0.01)
    assert state is JobState.WAITING
    fetched = await backend.move_to_active(queue, req("next"), clock.now)
    assert fetched.job is not None
    assert fetched.job.id == added
    assert fetched.job.stalled_counter == 0
    assert fetched.job.attempts_made == 0
