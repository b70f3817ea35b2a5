"""Retries and backoff: attempts, fixed and exponential waits, jitter, custom strategies."""

import asyncio

from corral import Backoff, Job, Queue, UnrecoverableError, Worker


async def main() -> None:
    queue = Queue("sync-crm")

    # --8<-- [start:add]
    await queue.add("push", {"contact": 1}, attempts=3, backoff=0.1)  # 0.1 s between tries
    await queue.add(
        "push", {"contact": 2}, attempts=4,
        backoff=Backoff("exponential", 0.1, jitter=0.5),  # ~0.1, 0.2, 0.4 s, spread by up to 50%
    )  # fmt: skip
    await queue.add("push", {"contact": 3}, attempts=5, backoff={"type": "linear", "delay": 0.1})
    await queue.add("push", {"contact": 4, "deleted": True}, attempts=5)
    # --8<-- [end:add]

    # --8<-- [start:processor]
    tries: dict[int, int] = {}

    async def push(job: Job) -> str:
        contact = job.data["contact"]
        tries[contact] = tries.get(contact, 0) + 1
        if job.data.get("deleted"):
            raise UnrecoverableError("the contact was deleted")  # no retry
        if tries[contact] < 3:
            raise ConnectionError("the CRM timed out")  # retried while attempts remain
        return "pushed"

    # --8<-- [end:processor]

    # --8<-- [start:strategy]
    def linear(attempts_made: int, backoff_type: str, error: BaseException) -> float:
        """Seconds to wait before the next try, for backoff types corral does not know."""
        return 0.1 * attempts_made

    worker = Worker("sync-crm", push, backoff_strategy=linear, concurrency=4)
    # --8<-- [end:strategy]
    settled: set[str] = set()
    all_settled = asyncio.Event()

    def settle(job: Job, outcome: object) -> None:
        if job.finished_on is not None:  # completed, or failed with no attempt left
            settled.add(job.id)
            if len(settled) == 4:
                all_settled.set()

    worker.on("completed", settle)
    worker.on("failed", settle)  # called for every failed attempt
    async with worker:
        await all_settled.wait()

    for job in sorted(await queue.get_jobs("completed", "failed"), key=lambda j: j.id):
        state = await job.get_state()
        why = f": {job.failed_reason}" if state == "failed" else ""
        print(f"job {job.id}: {state} after {job.attempts_made} attempt(s){why}")

    # --8<-- [start:retry]
    failed = await queue.get_jobs("failed")
    await failed[0].retry(reset_attempts=True)  # run it again (the CLI: `corral retry`)
    print(f"job {failed[0].id} retried: {await failed[0].get_state()}")
    # --8<-- [end:retry]
    await queue.close()


if __name__ == "__main__":
    asyncio.run(main())
