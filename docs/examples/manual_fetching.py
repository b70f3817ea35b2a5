"""Fetching jobs by hand: BullMQ's manual pattern, every step."""

import asyncio

from corral import Job, Queue, Worker


def resize(job: Job) -> dict[str, str]:
    """The work itself (here: pretend to make a thumbnail)."""
    if job.data["image"].endswith(".gif"):
        raise ValueError(f"cannot resize {job.data['image']}: animated images are not supported")
    return {"thumbnail": job.data["image"].replace(".", ".thumb.")}


async def main() -> None:
    queue = Queue("images")
    await queue.add_bulk(
        [{"name": "resize", "data": {"image": name}} for name in ("a.png", "b.gif", "c.jpg")]
    )

    # --8<-- [start:worker]
    worker = Worker("images", lock_duration=60)  # no processor: driven by hand
    await worker.start_stalled_check_timer()  # recover dead workers' jobs until close()
    token = "images-worker-1"  # any unique string; it owns the locks this loop takes
    # --8<-- [end:worker]

    # --8<-- [start:loop]
    job = await worker.get_next_job(token)  # locked to `token` for 60 s (None: no job)
    while job is not None:
        await job.extend_lock(token, 60)  # a long job renews its lock before it runs out
        try:
            result = resize(job)
        except Exception as error:
            print(f"job {job.id} failed: {error}")
            # Record the failure and fetch the next job, locked with the same token.
            job = await job.move_to_failed(error, token, fetch_next=True)
        else:
            print(f"job {job.id} completed: {result}")
            # Complete this job and fetch the next one in the same step.
            job = await job.move_to_completed(result, token)
    # --8<-- [end:loop]

    # --8<-- [start:back]
    await queue.add("resize", {"image": "d.png"})
    job = await worker.get_next_job(token)
    assert job is not None
    await queue.rate_limit(1)  # e.g. the image service asked us to slow down
    left = await job.move_to_wait(token)  # back to the front of wait, no attempt used
    print(f"job {job.id} back in wait: {await job.get_state()}; queue limited for {left:.0f} s")
    # --8<-- [end:back]

    # --8<-- [start:close]
    await worker.close()  # stops the stalled check; jobs still held keep their locks
    await queue.close()
    # --8<-- [end:close]


if __name__ == "__main__":
    asyncio.run(main())
