"""Getting started: add a job, process it with a worker, read its result."""

import asyncio

from tasks import send_welcome_email

from corral import Queue, Worker


async def main() -> None:
    # --8<-- [start:add]
    queue = Queue("emails")  # the store: $CORRAL_URL, else sqlite:///corral.db
    job = await queue.add("welcome", {"to": "ada@example.com"}, attempts=3)
    print(f"added job {job.id}: {await job.get_state()}")
    # --8<-- [end:add]

    # --8<-- [start:work]
    finished = asyncio.Event()
    worker = Worker("emails", send_welcome_email)
    worker.on("completed", lambda job, result: finished.set())
    async with worker:  # processes jobs in the background until the block ends
        await finished.wait()
    # --8<-- [end:work]

    # --8<-- [start:result]
    done = await queue.get_job(job.id)
    assert done is not None
    print(f"job {done.id}: {await done.get_state()}, returned {done.return_value}")
    print(f"its log: {await done.get_logs()}")
    await queue.close()
    # --8<-- [end:result]


if __name__ == "__main__":
    asyncio.run(main())
