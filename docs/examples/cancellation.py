"""Cancellation and timeouts: cancel waiting and running jobs, give up on slow ones."""

import asyncio
import time

from corral import Job, Queue, Worker


async def main() -> None:
    queue = Queue("reports")

    # --8<-- [start:waiting]
    later = await queue.add("build", {"report": "weekly"}, delay=3600)
    answer = await queue.cancel(later.id, reason="the customer left")
    print(answer.message)  # a job not running yet fails at once, no retry
    # --8<-- [end:waiting]

    # --8<-- [start:processor]
    async def build(job: Job) -> str:
        if job.name == "slow":
            await asyncio.sleep(3600)  # cancelled here: CancelledError at this await
        return "built"

    def crunch(job: Job) -> str:
        # A plain function cannot be interrupted: it looks now and then.
        while not job.is_cancelled:
            time.sleep(0.01)
        job.raise_if_cancelled()  # JobCancelledError (or JobTimeoutError)
        return "never"

    # --8<-- [end:processor]

    # --8<-- [start:running]
    started, stopped = asyncio.Event(), asyncio.Event()
    worker = Worker("reports", build, concurrency=2)
    worker.on("active", lambda job: started.set())

    @worker.on("cancelled")
    def cancelled(job: Job, reason: str) -> None:
        print(f"worker: job {job.id} {reason}")
        stopped.set()

    running = await queue.add("slow", {}, attempts=3)
    async with worker:
        await started.wait()
        answer = await queue.cancel(running.id, reason="stop it")  # from any process or host
        print(answer.message)
        await stopped.wait()
    # --8<-- [end:running]

    # --8<-- [start:timeout]
    await queue.add("slow", {}, timeout=0.2, attempts=2)  # 0.2 s per attempt
    threads = Worker("reports", crunch, timeout=30)  # the default for jobs without one
    gave_up = asyncio.Event()

    @threads.on("failed")
    def failed(job: Job, error: BaseException) -> None:
        if job.finished_on is not None:  # no attempt left
            gave_up.set()

    async with threads:
        await gave_up.wait()
    # --8<-- [end:timeout]

    for job in sorted(await queue.get_jobs("failed"), key=lambda j: int(j.id)):
        print(f"job {job.id}: failed after {job.attempts_made} attempt(s): {job.failed_reason}")
    await queue.close()


if __name__ == "__main__":
    asyncio.run(main())
