"""Stalled jobs: a worker dies holding a job; the stalled checker gives it to another."""

import asyncio

from corral import Queue, Worker


async def main() -> None:
    queue = Queue("stalled")
    await queue.add("resize", {"image": "cat.png"})

    # --8<-- [start:die]
    doomed = Worker("stalled", lock_duration=0.5)
    job = await doomed.get_next_job("doomed-token")
    assert job is not None
    await doomed.close()  # "dies": the job stays active until its lock expires
    # --8<-- [end:die]

    # --8<-- [start:check]
    rescuer = Worker("stalled", stalled_interval=0.3, max_stalled_count=1)
    rescuer.on("stalled", lambda job_id: print(f"job {job_id} stalled: back to wait"))
    await rescuer.start_stalled_check_timer()  # checks now, then every 0.3 s
    await asyncio.sleep(1.2)  # the lock expires; two checks see the job without it
    # --8<-- [end:check]

    # --8<-- [start:recovered]
    again = await rescuer.get_next_job("rescuer-token")
    assert again is not None  # the same job: again.id == job.id
    print(f"job {again.id} fetched again, stalled {again.stalled_counter} time(s)")
    await again.move_to_completed({"thumbnail": "cat.thumb.png"}, "rescuer-token", fetch_next=False)
    print(f"job {again.id}: {await again.get_state()}")
    # --8<-- [end:recovered]

    await rescuer.close()
    await queue.close()


if __name__ == "__main__":
    asyncio.run(main())
