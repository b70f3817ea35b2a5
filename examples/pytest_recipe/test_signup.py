"""Tests of the signup code, with the fixtures of conftest.py."""

from __future__ import annotations

import signup
from conftest import ProcessOne, RunWorker

from corral import Queue


async def test_signing_up_queues_a_welcome_email(queue: Queue) -> None:
    job_id = await signup.sign_up(queue, "ada@example.com")
    job = await queue.get_job(job_id)
    assert job is not None
    assert job.data == {"to": "ada@example.com"}
    assert job.opts.attempts == 3
    assert await job.get_state() == "waiting"


async def test_code_that_opens_its_own_queue_sees_the_test_store(queue: Queue) -> None:
    async with Queue(signup.QUEUE) as own:  # no url=: CORRAL_URL, set by the fixture
        await signup.sign_up(own, "grace@example.com")
    assert await queue.get_job_counts("waiting") == {"waiting": 1}


async def test_a_worker_sends_the_email(queue: Queue, run_worker: RunWorker) -> None:
    job_id = await signup.sign_up(queue, "ada@example.com")
    async with run_worker(signup.send_welcome) as running:
        (job,) = await running.wait(job_id)
    assert job.return_value == "sent to ada@example.com"
    assert "ada@example.com" in signup.sent


async def test_processing_one_job_inline(queue: Queue, process_one: ProcessOne) -> None:
    await signup.sign_up(queue, "someone@elsewhere.org")
    job = await process_one(signup.send_welcome)
    assert job.failed_reason == "will not email someone@elsewhere.org"
    assert await job.get_state() == "delayed"  # attempts=3: retried after its 1 s backoff
