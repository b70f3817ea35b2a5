"""wait_for_job: block until work may be there, without busy polling. The answer is
a hint (0: a job may be ready; an epoch-ms time: when the next delayed job falls
due; None: timed out); these are the only tests that wait in real time, briefly."""

from __future__ import annotations

import asyncio
import time

from corral.backends import open_backend
from corral.backends.base import Backend
from tests.contract.support import Clock, job

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
