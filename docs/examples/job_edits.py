"""Changing a job after it was added, stepping a job through delayed, and waiting
for a job's result."""

import asyncio
from datetime import UTC, datetime, timedelta

from corral import DelayedError, Job, JobFailedError, Queue, UnrecoverableError, Worker


async def main() -> None:
    queue = Queue("exports")

    # --8<-- [start:edit]
    job = await queue.add("export", {"format": "csv"}, delay=3600, priority=5)
    await job.change_delay(0.2)  # due 0.2 s from now instead of in an hour
    await job.change_priority(1)  # ahead of every priority 2..n job
    await job.update_data({"format": "xlsx"})  # a new payload
    print(f"delayed: {await job.is_delayed()}, data: {job.data}")
    # --8<-- [end:edit]

    # --8<-- [start:steps]
    async def export(job: Job) -> str:
        if job.data.get("stage") != "upload":
            await job.update_data({**job.data, "stage": "upload"})  # remember the step
            await job.move_to_delayed(datetime.now(UTC) + timedelta(seconds=0.1))
            raise DelayedError()  # come back later; no attempt is used
        if job.data["format"] == "pdf":
            raise UnrecoverableError("pdf export is not supported")
        return f"exported {job.data['format']}"

    # --8<-- [end:steps]

    # --8<-- [start:wait]
    bad = await queue.add("export", {"format": "pdf"})
    async with Worker("exports", export):
        print(await job.wait_until_finished(timeout=30))  # from any process, any host
        try:
            await bad.wait_until_finished(timeout=30)
        except JobFailedError as failure:
            print(f"failed: {failure.reason}")
    # --8<-- [end:wait]
    await queue.close()


if __name__ == "__main__":
    asyncio.run(main())
