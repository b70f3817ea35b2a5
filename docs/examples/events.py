"""Events: follow what happens to a queue's jobs, from any process."""

import asyncio

from corral import Job, Queue, QueueEvents, Worker


async def convert(job: Job) -> str:
    await job.update_progress(100)
    return f"{job.data['file']}.pdf"


async def main() -> None:
    queue = Queue("convert")

    # --8<-- [start:follow]
    async with QueueEvents("convert") as events:  # from this line on, nothing is missed
        job = await queue.add("docx", {"file": "report.docx"})
        async with Worker("convert", convert):
            async for event in events:
                if event.job_id != job.id:
                    continue
                print(f"{event.event:<9} job {event.job_id}", end="")
                if event.event == "progress":
                    print(f": {event.progress}%", end="")
                if event.event == "completed":
                    print(f": {event.return_value}")
                    break
                print()
        resume_from = events.last_event_id  # keep it to resume later
    # --8<-- [end:follow]

    # --8<-- [start:resume]
    await queue.add("docx", {"file": "minutes.docx"})  # while no one is listening
    async with QueueEvents("convert", last_event_id=resume_from) as events:
        missed = await events.read(block=1)  # what happened since `resume_from`
        print(f"missed while away: {[(e.event, e.job_id) for e in missed if e.job_id]}")
    # --8<-- [end:resume]
    await queue.close()


if __name__ == "__main__":
    asyncio.run(main())
