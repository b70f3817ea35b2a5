"""The corral side of the RQ → corral side-by-side example."""

import asyncio

from corral import Job, Queue, Worker


# --8<-- [start:corral]
async def send_receipt(job: Job) -> str:
    return f"receipt for order {job.data['order_id']} sent to {job.data['email']}"


async def place_order() -> str:
    queue = Queue("receipts")
    job = await queue.add(
        "send_receipt", {"order_id": 42, "email": "ada@example.com"},
        attempts=4, backoff=1,  # Retry(max=3, interval=1): 3 retries after the first try
    )  # fmt: skip
    worker = Worker(
        "receipts", send_receipt
    )  # usually: `corral worker app:send_receipt -q receipts`
    finished = asyncio.Event()
    worker.on("completed", lambda job, result: finished.set())
    async with worker:
        await finished.wait()
    done = await queue.get_job(job.id)  # job.return_value() in RQ
    await queue.close()
    assert done is not None
    return str(done.return_value)


# --8<-- [end:corral]


if __name__ == "__main__":
    print(asyncio.run(place_order()))
