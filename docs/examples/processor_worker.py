"""Processor workers: a function per job, concurrency, hooks, progress and logs."""

import asyncio

from corral import Job, Queue, UnrecoverableError, Worker


# --8<-- [start:processor]
async def send_email(job: Job) -> dict[str, bool]:
    """An ``async def`` runs on the worker's loop; a plain ``def`` runs in a thread pool."""
    if not job.data.get("to"):
        raise UnrecoverableError("no recipient")  # fail now, whatever attempts are left
    await job.update_progress(50)  # stored on the job, and a `progress` event
    await job.log(f"connecting to SMTP for {job.data['to']}")
    await asyncio.sleep(0.05)
    return {"sent": True}  # becomes job.return_value


# --8<-- [end:processor]


async def main() -> None:
    queue = Queue("outbox")
    # --8<-- [start:add]
    await queue.add_bulk(
        [{"name": "send", "data": {"to": f"user{n}@example.com"}} for n in range(1, 9)]
        + [{"name": "send", "data": {}, "attempts": 3}]
    )
    # --8<-- [end:add]

    # --8<-- [start:hooks]
    worker = Worker("outbox", send_email, concurrency=4)  # 4 jobs at once
    results: dict[str, object] = {}
    failures: dict[str, str] = {}
    all_done = asyncio.Event()

    @worker.on("completed")
    def done(job: Job, result: object) -> None:
        results[job.id] = result
        if len(results) + len(failures) == 9:
            all_done.set()

    @worker.on("failed")
    def failed(job: Job, error: BaseException) -> None:
        failures[job.id] = str(error)
        if len(results) + len(failures) == 9:
            all_done.set()

    # --8<-- [end:hooks]

    # --8<-- [start:run]
    run = asyncio.create_task(worker.run())  # until close(); the CLI: `corral worker`
    await all_done.wait()
    await worker.close(grace=30)  # running jobs get 30 s to finish, the rest go back to wait
    await run
    # --8<-- [end:run]

    print(f"completed {len(results)}, failed {failures}")
    job = await queue.get_job("1")
    assert job is not None
    print(f"job 1: progress {job.progress}, log {await job.get_logs()}")
    await queue.close()


if __name__ == "__main__":
    asyncio.run(main())
