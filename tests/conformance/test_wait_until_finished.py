"""``job.wait_until_finished()``: the result of a job run anywhere, with no race
between the job finishing and the wait starting."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest

from corral import Job, JobFailedError, JobNotFoundError, Queue, UnrecoverableError
from tests.conformance.conftest import WorkerFactory

OTHER_PROCESS = textwrap.dedent(
    """
    import asyncio, sys
    from corral import Worker

    async def main(url, queue):
        async def double(job):
            return job.data["n"] * 2

        worker = Worker(queue, double, url=url, drain_delay=0.2)
        done = asyncio.Event()
        worker.on("completed", lambda job, result: done.set())
        async with worker:
            await asyncio.wait_for(done.wait(), 30)

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


async def test_a_job_run_in_another_process_is_waited_for(url: str, queue: Queue) -> None:
    job = await queue.add("double", {"n": 21})
    other = await asyncio.create_subprocess_exec(
        sys.executable, "-c", OTHER_PROCESS, url, queue.name, stderr=subprocess.PIPE
    )
    try:
        assert await job.wait_until_finished(timeout=60) == 42
    finally:
        _, err = await other.communicate()
    assert other.returncode == 0, err.decode()


async def test_a_failed_job_raises_its_reason(queue: Queue, make_worker: WorkerFactory) -> None:
    async def fail(job: Job) -> None:
        raise UnrecoverableError("the printer is on fire")

    job = await queue.add("doomed", {})
    async with make_worker(processor=fail):
        with pytest.raises(JobFailedError, match="the printer is on fire") as caught:
            await job.wait_until_finished(timeout=20)
    assert caught.value.reason == "the printer is on fire"
    assert caught.value.job_id == job.id


async def test_a_finished_job_answers_at_once(queue: Queue, make_worker: WorkerFactory) -> None:
    job = await queue.add("quick", {})
    fetched = await make_worker().get_next_job("t", block=False)
    assert fetched is not None
    await fetched.move_to_completed({"ok": True}, "t", fetch_next=False)
    assert await job.wait_until_finished(timeout=5) == {"ok": True}


async def test_many_waiters_on_one_queue_each_get_their_job(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    async def echo(job: Job) -> int:
        await asyncio.sleep(0.01)
        return int(job.data["i"])

    jobs = [await queue.add("echo", {"i": i}) for i in range(8)]
    waits = [asyncio.ensure_future(j.wait_until_finished(timeout=30)) for j in jobs]
    async with make_worker(processor=echo, concurrency=4):
        assert await asyncio.gather(*waits) == list(range(8))


async def test_a_wait_times_out_and_a_missing_job_says_so(queue: Queue) -> None:
    job = await queue.add("never", {}, delay=3600)
    with pytest.raises(TimeoutError, match=r"did not finish within 0\.3 s"):
        await job.wait_until_finished(timeout=0.3)
    await job.remove()
    with pytest.raises(JobNotFoundError, match="never added, or removed"):
        await job.wait_until_finished(timeout=5)
    with pytest.raises(ValueError, match="timeout"):
        await job.wait_until_finished(timeout=-1)


async def test_a_job_removed_while_waited_for_ends_the_wait(queue: Queue) -> None:
    job = await queue.add("removed", {}, delay=3600)
    waiting = asyncio.ensure_future(job.wait_until_finished(timeout=30))
    await asyncio.sleep(0.2)
    await job.remove()
    with pytest.raises(JobNotFoundError):
        await waiting
