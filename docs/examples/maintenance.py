"""Queue maintenance: retry what failed, clean what finished, drain what waits,
cap the queue with global limits and list its workers."""

import asyncio

from corral import Queue, Worker


async def main() -> None:
    # --8<-- [start:defaults]
    # Every add starts from these options; an option given to add wins.
    queue = Queue("reports", default_job_options={"attempts": 2, "remove_on_fail": 1000})
    # --8<-- [end:defaults]
    await queue.add_bulk([{"name": "render", "data": {"n": n}} for n in range(1, 6)])
    worker = Worker("reports", name="renderer-1")
    while (job := await worker.get_next_job("tok", block=False)) is not None:
        if job.data["n"] <= 2:  # these two fail both attempts
            await job.move_to_failed(RuntimeError("printer jam"), "tok")
        else:
            await job.move_to_completed("ok", "tok", fetch_next=False)

    # --8<-- [start:maintenance]
    print(await queue.get_job_counts(["completed", "failed"]))
    print("retried:", await queue.retry_jobs("failed"))  # every failed job, back to wait
    print("cleaned:", await queue.clean("completed", grace=0))  # ids of the removed jobs
    print("drained:", await queue.drain())  # every job that waits, removed
    # --8<-- [end:maintenance]

    # --8<-- [start:limits]
    await queue.set_global_concurrency(4)  # at most 4 jobs of this queue at once, anywhere
    await queue.set_global_rate_limit(100, 60)  # at most 100 jobs a minute, across workers
    print("concurrency:", await queue.get_global_concurrency())
    print("rate limit:", await queue.get_global_rate_limit())
    # --8<-- [end:limits]

    # --8<-- [start:workers]
    for info in await queue.get_workers():
        print(f"worker {info.name} is taking jobs")
    # --8<-- [end:workers]
    await worker.close()
    await queue.obliterate(force=True)
    await queue.close()


if __name__ == "__main__":
    asyncio.run(main())
