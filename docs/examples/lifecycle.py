"""The life of a job: every state it passes through, as the queue reports it."""

import asyncio

from corral import Queue, Worker


async def main() -> None:
    queue = Queue("lifecycle")
    worker = Worker("lifecycle")  # no processor: driven by hand
    token = "worker-1"

    job = await queue.add("report", {"month": "2026-11"})
    print(f"added:               {await job.get_state()}")

    later = await queue.add("report", {"month": "2026-12"}, delay=3600)
    print(f"added with a delay:  {await later.get_state()}")
    urgent = await queue.add("report", {"month": "2026-10"}, priority=1)
    print(f"added with priority: {await urgent.get_state()}")

    fetched = await worker.get_next_job(token)  # plain jobs run before prioritized ones
    assert fetched is not None  # the first job added: fetched.id == job.id
    print(f"fetched:             {await fetched.get_state()}")
    await fetched.move_to_completed({"rows": 42}, token, fetch_next=False)
    print(f"completed:           {await fetched.get_state()}")

    second = await worker.get_next_job(token)
    assert second is not None  # the prioritized job: second.id == urgent.id
    await second.move_to_failed(RuntimeError("the database is down"), token)
    print(f"failed:              {await second.get_state()} ({second.failed_reason})")

    await second.retry()  # run a failed job again
    print(f"retried:             {await second.get_state()}")

    await later.promote()  # a delayed job, now
    print(f"promoted:            {await later.get_state()}")
    print(await queue.get_job_counts("waiting", "prioritized", "delayed", "completed"))

    await worker.close()
    await queue.close()


if __name__ == "__main__":
    asyncio.run(main())
