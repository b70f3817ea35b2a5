"""The corral worker that takes over a Node BullMQ queue: same Redis, same queue, same jobs."""

import asyncio
import sys

from corral import Job, Queue, Worker


# --8<-- [start:worker]
async def send_receipt(job: Job) -> str:  # Node's `async (job) => ...`; the data is the same JSON
    return f"receipt for order {job.data['orderId']} sent to {job.data['email']}"


async def serve(url: str, *, jobs: int) -> None:
    worker = Worker("receipts", send_receipt, url=url, concurrency=16, lock_duration=30)
    done = 0
    finished = asyncio.Event()

    @worker.on("completed")
    def report(job: Job, result: object) -> None:
        nonlocal done
        print(f"job {job.id} completed: {result}")
        done += 1
        if done == jobs:
            finished.set()

    async with worker:  # in production: `corral worker app:send_receipt --queue receipts`
        await finished.wait()


# --8<-- [end:worker]


# --8<-- [start:add]
async def add_from_python(url: str) -> str:
    """A corral producer on the same queue: a Node worker takes this job just as well."""
    async with Queue("receipts", url=url) as queue:
        job = await queue.add(
            "send-receipt", {"orderId": 43, "email": "grace@example.com"},
            attempts=3, backoff={"type": "exponential", "delay": 1}, remove_on_complete=1000,
        )  # fmt: skip
        return job.id


# --8<-- [end:add]


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], jobs=1))
