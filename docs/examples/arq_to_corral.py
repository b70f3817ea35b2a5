"""The corral side of the arq → corral side-by-side example."""

import asyncio

from corral import Job, Queue, QueueEvents, Worker


# --8<-- [start:corral]
async def send_receipt(job: Job) -> str:  # arq's ctx: the job itself (job.id, job.attempts_made)
    return f"receipt for order {job.data['order_id']} sent to {job.data['email']}"


async def place_order() -> str:
    async with (
        Queue("receipts") as queue,
        QueueEvents("receipts") as events,  # job.result(): wait for the outcome
        Worker("receipts", send_receipt),  # usually: `corral worker app:send_receipt -q receipts`
    ):
        job = await queue.add("send_receipt", {"order_id": 42, "email": "ada@example.com"})
        async for event in events:
            if event.job_id == job.id and event.event in ("completed", "failed"):
                return str(
                    event.return_value if event.event == "completed" else event.failed_reason
                )
    raise RuntimeError("the events stopped")


# --8<-- [end:corral]


if __name__ == "__main__":
    print(asyncio.run(place_order()))
