"""BullMQ's per-minute metrics: a worker counts what it finishes, a queue reads it."""

import asyncio

from corral import Job, MetricsTime, Queue, Worker


async def resize(job: Job) -> str:
    if job.data["image"].endswith(".gif"):
        raise ValueError("GIFs are not supported")
    return f"small-{job.data['image']}"


async def main() -> None:
    queue = Queue("images")
    images = ["a.png", "b.png", "c.gif", "d.png"]
    await queue.add_bulk([{"name": "resize", "data": {"image": i}} for i in images])

    # --8<-- [start:worker]
    worker = Worker("images", resize, metrics=MetricsTime.ONE_WEEK)  # keep a week of minutes
    # --8<-- [end:worker]
    finished = asyncio.Event()
    done: list[str] = []

    def count(job: Job, _outcome: object) -> None:
        done.append(job.id)
        if len(done) == len(images):
            finished.set()

    worker.on("completed", count)
    worker.on("failed", count)
    async with worker:
        await finished.wait()

    # --8<-- [start:read]
    completed = await queue.get_metrics("completed")
    failed = await queue.get_metrics("failed")
    print("completed:", completed.meta.count, "failed:", failed.meta.count)
    per_minute = completed.data  # jobs per closed minute, newest first: [..]
    this_minute = completed.in_open_minute  # counted since the last minute closed
    assert sum(per_minute) + this_minute == completed.meta.count
    # --8<-- [end:read]
    await queue.close()


if __name__ == "__main__":
    asyncio.run(main())
