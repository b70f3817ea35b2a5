"""Delays and priorities: in which order a queue hands out its jobs."""

import asyncio
from datetime import timedelta

from corral import Queue, Worker


async def main() -> None:
    queue = Queue("print")
    # --8<-- [start:add]
    await queue.add("page", {"n": "plain 1"})
    await queue.add("page", {"n": "plain 2"})
    await queue.add("page", {"n": "low"}, priority=10)
    await queue.add("page", {"n": "high"}, priority=1)  # 1 runs first among prioritized jobs
    await queue.add("page", {"n": "lifo"}, lifo=True)  # ahead of the jobs already waiting
    await queue.add("page", {"n": "soon"}, delay=1)  # waits 1 s, then takes its turn
    reminder = await queue.add("page", {"n": "tomorrow"}, delay=timedelta(days=1))
    # --8<-- [end:add]

    # --8<-- [start:order]
    worker = Worker("print", drain_delay=0.5)
    order = []
    job = await worker.get_next_job("tok")
    while job is not None:
        order.append(job.data["n"])
        job = await job.move_to_completed(None, "tok")
    print(f"ran: {order}")
    # --8<-- [end:order]
    await asyncio.sleep(1.1)
    late = await worker.get_next_job("tok")
    assert late is not None
    print(f"then, once due: {late.data['n']}")
    await late.move_to_completed(None, "tok", fetch_next=False)

    # --8<-- [start:promote]
    print(f"{reminder.data['n']!r} is {await reminder.get_state()}, due in {reminder.delay:.0f} s")
    await reminder.promote()  # run it now (the CLI: `corral promote print ID`)
    print(f"promoted: {await reminder.get_state()}")
    # --8<-- [end:promote]
    await worker.close()
    await queue.close()


if __name__ == "__main__":
    asyncio.run(main())
