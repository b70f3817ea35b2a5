"""Tokens and locks: only the token that holds a job's lock may move the job."""

import asyncio

from corral import LockMismatchError, MissingLockError, Queue, Worker


async def main() -> None:
    queue = Queue("locks")
    worker = Worker("locks", lock_duration=0.5)  # a short lock, to see it expire
    await queue.add("import", {"file": "orders.csv"})

    # --8<-- [start:wrong-token]
    job = await worker.get_next_job("token-a")  # locked to token-a for 0.5 s
    assert job is not None
    try:
        await job.move_to_completed("done", "token-b", fetch_next=False)
    except LockMismatchError as error:
        print(f"token-b refused: {error}")
    # --8<-- [end:wrong-token]

    # --8<-- [start:extend]
    await job.extend_lock("token-a", 30)  # the holder keeps it: 30 s from now
    await asyncio.sleep(0.7)  # longer than the first 0.5 s
    await job.move_to_completed("done", "token-a", fetch_next=False)
    print(f"token-a completed job {job.id}: {await job.get_state()}")
    # --8<-- [end:extend]

    # --8<-- [start:expired]
    await queue.add("import", {"file": "refunds.csv"})
    late = await worker.get_next_job("token-c")
    assert late is not None
    await asyncio.sleep(0.7)  # the lock expires: token-c no longer holds it
    try:
        await late.move_to_completed("done", "token-c", fetch_next=False)
    except MissingLockError as error:
        print(f"token-c refused: {error}")
    print(f"job {late.id} is still {await late.get_state()}; the stalled checker returns it")
    # --8<-- [end:expired]

    await worker.close()
    await queue.close()


if __name__ == "__main__":
    asyncio.run(main())
