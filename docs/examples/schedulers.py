"""Job schedulers: a job every half second (three times), and one every night in Paris."""

import asyncio
from datetime import UTC, datetime, timedelta

from corral import Job, Queue, Worker


async def main() -> None:
    queue = Queue("reports")
    # --8<-- [start:upsert]
    nightly = await queue.upsert_job_scheduler(
        "nightly-report",
        cron="0 3 * * *",  # 03:00 every day ...
        tz="Europe/Paris",  # ... in Paris, summer and winter time alike
        name="report",
        data={"kind": "daily"},
        attempts=3,  # every iteration job retries up to 3 times
    )
    await queue.upsert_job_scheduler("heartbeat", every=0.5, limit=3, data={"ping": True})
    # --8<-- [end:upsert]
    print(f"next nightly report is {await nightly.get_state()}: {nightly.id.split(':')[1]}")
    soon = nightly.timestamp + timedelta(days=1)
    assert datetime.now(UTC) < nightly.timestamp + timedelta(seconds=nightly.delay) <= soon

    # --8<-- [start:list]
    for scheduler in await queue.get_job_schedulers():  # next run first
        what = (
            f"every {scheduler.every} s" if scheduler.every else f"{scheduler.cron} {scheduler.tz}"
        )
        print(f"{scheduler.id}: {what}, {scheduler.iteration_count} iteration(s) so far")
    # --8<-- [end:list]

    # --8<-- [start:work]
    ran = []
    three = asyncio.Event()

    async def beat(job: Job) -> None:
        ran.append(job.data)
        if len(ran) == 3:  # the heartbeat runs three times (its limit), then stops
            three.set()

    async with Worker("reports", beat, drain_delay=0.5):
        await three.wait()
    # --8<-- [end:work]
    print(f"heartbeat ran {len(ran)} times: {ran}")
    heartbeat = await queue.get_job_scheduler("heartbeat")
    assert heartbeat is not None
    print(f"heartbeat made {heartbeat.iteration_count} iterations (limit {heartbeat.limit})")

    # --8<-- [start:remove]
    await queue.remove_job_scheduler("heartbeat")
    await queue.remove_job_scheduler("nightly-report")  # its pending iteration goes too
    print(f"schedulers left: {await queue.get_job_schedulers_count()}")
    # --8<-- [end:remove]
    await queue.close()


if __name__ == "__main__":
    asyncio.run(main())
