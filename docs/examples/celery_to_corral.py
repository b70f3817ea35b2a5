"""The corral side of the Celery → corral side-by-side example."""

import asyncio
from collections.abc import Awaitable, Callable

from corral import Backoff, Job, Queue, QueueEvents, Worker


# --8<-- [start:corral]
async def send_receipt(job: Job) -> str:
    return f"receipt for order {job.data['order_id']} sent to {job.data['email']}"


# One queue, many kinds of job: the job's name picks the function (Celery's task name).
HANDLERS: dict[str, Callable[[Job], Awaitable[object]]] = {"send_receipt": send_receipt}


async def process(job: Job) -> object:
    return await HANDLERS[job.name](job)


async def place_order(queue: Queue, events: QueueEvents) -> str:
    job = await queue.add(
        "send_receipt", {"order_id": 42, "email": "ada@example.com"},
        attempts=5, backoff=Backoff("exponential", 1),  # autoretry_for + retry_backoff
    )  # fmt: skip
    async for event in events:  # result.get(): wait for the job's outcome
        if event.job_id == job.id and event.event == "completed":
            return str(event.return_value)
        if event.job_id == job.id and event.event == "failed":
            raise RuntimeError(event.failed_reason)
    raise RuntimeError("the events stopped")


# --8<-- [end:corral]


async def main() -> None:
    async with (
        Queue("shop") as queue,
        QueueEvents("shop") as events,
        Worker("shop", process),  # in production: `corral worker app:process --queue shop`
    ):
        print(await place_order(queue, events))


if __name__ == "__main__":
    asyncio.run(main())
