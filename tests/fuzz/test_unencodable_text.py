"""Text that UTF-8 cannot hold: a lone surrogate (``"\\ud800"``) anywhere a user hands
corral a string, in data or in a name.

Python strings may hold one; no store can (both keep UTF-8). Each is refused before
anything is written with an error that names the field and says why, instead of a
raw ``UnicodeEncodeError`` from deep inside a backend. What a processor hands back
(a return value, an error message) never leaves its job active: a return value
fails the attempt at once with the reason, and an error message is stored with the
surrogate escaped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from corral import Job, JobState, Queue, QueueEvents, Worker
from tests.conformance.test_worker_run import counts_reach, wait_until

BAD = "bad \ud800 text"

Attempt = Callable[[Queue, str, str], Awaitable[Any]]


async def _fetched(queue: Queue, url: str) -> tuple[Worker, Job]:
    await queue.add("x", {})
    worker = Worker(queue.name, url=url, drain_delay=0.1)
    job = await worker.get_next_job("tok")
    assert job is not None
    return worker, job


async def _with_job(queue: Queue, url: str, act: Callable[[Job], Awaitable[Any]]) -> None:
    worker, job = await _fetched(queue, url)
    try:
        await act(job)
    finally:
        await job.move_to_completed("ok", "tok", fetch_next=False)
        await worker.close()


async def _token(queue: Queue, url: str) -> None:
    await queue.add("x", {})
    worker = Worker(queue.name, url=url, drain_delay=0.1)
    try:
        await worker.get_next_job(BAD)
    finally:
        await worker.close()


CASES: dict[str, tuple[str, Attempt]] = {
    "job data": ("job data", lambda q, u, n: q.add("x", {"note": BAD})),
    "a key of job data": ("job data", lambda q, u, n: q.add("x", {BAD: 1})),
    "job name": ("job name", lambda q, u, n: q.add(BAD, {})),
    "job id": ("job_id", lambda q, u, n: q.add("x", {}, job_id=BAD)),
    "backoff type": ("job options", lambda q, u, n: q.add("x", {}, attempts=2, backoff={"type": BAD})),
    "bulk item data": ("job data", lambda q, u, n: q.add_bulk([{"name": "x", "data": [BAD]}])),
    "queue name": ("queue name", lambda q, u, n: asyncio.to_thread(Queue, BAD, url=u)),
    "worker name": ("worker name", lambda q, u, n: asyncio.to_thread(Worker, n, url=u, name=BAD)),
    "event cursor": (
        "last_event_id",
        lambda q, u, n: asyncio.to_thread(QueueEvents, n, url=u, last_event_id=BAD),
    ),
    "lock token": ("token", lambda q, u, n: _token(q, u)),
    "log line": ("log line", lambda q, u, n: _with_job(q, u, lambda job: job.log(BAD))),
    "progress": ("progress", lambda q, u, n: _with_job(q, u, lambda job: job.update_progress(BAD))),
    "return value by hand": (
        "return value",
        lambda q, u, n: _with_job(q, u, lambda job: job.move_to_completed([BAD], "tok")),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES.keys())
async def test_a_lone_surrogate_is_refused_naming_the_field(
    case: str, url: str, queue_name: str
) -> None:
    field, attempt = CASES[case]
    async with Queue(queue_name, url=url) as queue:
        with pytest.raises((ValueError, TypeError)) as caught:
            await attempt(queue, url, queue_name)
        message = str(caught.value)
        assert not isinstance(caught.value, UnicodeError), f"a raw {caught.value!r}"
        assert field in message, message
        assert "surrogate" in message, message
        counts = await queue.get_job_counts()
        # Nothing was written but the one plain job a case may add first, and
        # nothing was left active.
        assert sum(counts.values()) <= 1, counts
        assert counts["active"] == 0, counts


async def test_a_processor_handing_back_a_lone_surrogate_never_leaves_its_job_active(
    url: str, queue_name: str
) -> None:
    async def process(job: Job) -> Any:
        if job.name == "returns":
            return {"text": BAD}
        raise RuntimeError(BAD)

    async with Queue(queue_name, url=url) as queue:
        returned = await queue.add("returns", {})
        raised = await queue.add("raises", {})
        async with Worker(queue_name, process, url=url, drain_delay=0.1, lock_duration=60):
            await wait_until(counts_reach(queue, "failed", 2))
        job = await queue.get_job(returned.id)
        assert job is not None
        assert await job.get_state() is JobState.FAILED
        assert job.failed_reason is not None
        assert "return value could not be stored" in job.failed_reason
        assert "surrogate" in job.failed_reason
        assert job.stalled_counter == 0
        failed = await queue.get_job(raised.id)
        assert failed is not None
        assert await failed.get_state() is JobState.FAILED
        assert failed.failed_reason == "bad \\ud800 text"
        assert "\\ud800" in failed.stacktrace[-1]
