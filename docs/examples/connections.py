"""Sharing a connection: many queues, workers and event readers on one store connection."""

import asyncio

from corral import Connection, Job, Queue, Worker


async def send(job: Job) -> str:
    return f"sent to {job.data['to']}"


async def main() -> None:
    # --8<-- [start:share]
    async with Connection() as conn:  # the URL as for Queue: $CORRAL_URL, else sqlite
        emails = Queue("emails", connection=conn)
        reports = Queue("reports", connection=conn, prefix="billing")  # any prefix
        worker = Worker("emails", send, connection=conn)

        job = await emails.add("welcome", {"to": "ada@example.com"})
        await reports.add("monthly", {"month": "2026-11"})
        finished = asyncio.Event()
        worker.on("completed", lambda job, result: finished.set())
        async with worker:
            await finished.wait()

        await emails.close()  # closing a client leaves the shared connection open
        print(await reports.get_job_counts("waiting"))
        done = await Queue("emails", connection=conn).get_job(job.id)
        assert done is not None
        print(done.return_value)
    # leaving the block closed the connection for every client on it
    # --8<-- [end:share]


if __name__ == "__main__":
    asyncio.run(main())
