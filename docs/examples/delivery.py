"""Delivery guarantees: a job can run twice; make the second run harmless."""

import asyncio

from corral import Job, LockError, Queue, Worker

# --8<-- [start:idempotent]
charged: dict[str, int] = {}  # stands in for a table whose primary key is the job id


async def charge(job: Job) -> dict[str, object]:
    """Charge a card once per job, however many times the job runs."""
    if job.id in charged:  # a second run of the same job: the work is already done
        return {"charge": job.id, "again": True}
    charged[job.id] = job.data["cents"]  # in real code: one INSERT ... ON CONFLICT DO NOTHING
    return {"charge": job.id, "again": False}


# --8<-- [end:idempotent]


async def main() -> None:
    queue = Queue("payments")

    # --8<-- [start:add-once]
    first = await queue.add("charge", {"cents": 4200}, job_id="order-1001")
    retry = await queue.add("charge", {"cents": 4200}, job_id="order-1001")  # e.g. after a timeout
    counts = await queue.get_job_counts("waiting")
    print(f"added twice, one job: {first.id == retry.id}, waiting: {counts['waiting']}")
    # --8<-- [end:add-once]

    # --8<-- [start:twice]
    slow = Worker("payments", lock_duration=0.5)
    job = await slow.get_next_job("slow-token")
    assert job is not None
    print(f"first run:  {await charge(job)}")
    await asyncio.sleep(0.7)  # the worker freezes past its lock (a long GC pause, a frozen VM)

    rescuer = Worker("payments", stalled_interval=0.2)
    await rescuer.start_stalled_check_timer()
    await asyncio.sleep(0.6)  # the stalled checker returns the job to wait
    again = await rescuer.get_next_job("rescuer-token")
    assert again is not None  # the same job: again.id == job.id
    result = await charge(again)
    print(f"second run: {result}")
    await again.move_to_completed(result, "rescuer-token", fetch_next=False)

    try:  # the frozen worker wakes up and reports its result: too late, refused
        await job.move_to_completed({"charge": job.id}, "slow-token", fetch_next=False)
    except LockError:
        print("the frozen worker's late result is refused; the job's result stays the rescuer's")
    # --8<-- [end:twice]
    print(f"charged once: {charged}")

    await slow.close()
    await rescuer.close()
    await queue.close()


if __name__ == "__main__":
    asyncio.run(main())
