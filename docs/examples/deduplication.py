"""Deduplication: one job per user while it is pending, a throttle, and a debounce."""

import asyncio

from corral import Deduplication, Queue, Worker


async def main() -> None:
    queue = Queue("sync")
    # --8<-- [start:simple]
    first = await queue.add("sync", {"user": 42}, deduplication={"id": "user-42"})
    again = await queue.add("sync", {"user": 42}, deduplication={"id": "user-42"})
    print(
        f"same job: {again.id == first.id}; holder of user-42: {await queue.get_deduplication_job_id('user-42')}"
    )
    # --8<-- [end:simple]

    # --8<-- [start:throttle]
    worker = Worker("sync")
    job = await worker.get_next_job("tok", block=False)
    assert job is not None
    await job.move_to_completed(None, "tok", fetch_next=False)
    # Finished: the simple id is free again, so this one is added.
    fresh = await queue.add("sync", {"user": 42}, deduplication={"id": "user-42"})
    print(f"added again once finished: {fresh.id != first.id}")
    report = await queue.add("report", {}, deduplication={"id": "report", "ttl": 5})
    twin = await queue.add("report", {}, deduplication={"id": "report", "ttl": 5})
    print(f"throttled for 5 s: {twin.id == report.id}")
    # --8<-- [end:throttle]

    # --8<-- [start:debounce]
    rule = Deduplication(id="search", ttl=1, extend=True, replace=True)
    for text in ("h", "he"):  # e.g. a search box: only the last one runs
        await queue.add("search", {"q": text}, delay=1, deduplication=rule)
    last = await queue.add("search", {"q": "hello"}, delay=1, deduplication=rule)
    pending = [j.data["q"] for j in await queue.get_jobs("delayed")]
    print(f"pending searches: {pending} (last: {last.data['q']})")
    # --8<-- [end:debounce]

    # --8<-- [start:remove]
    print(f"freed: {await queue.remove_deduplication_key('report')}")
    # --8<-- [end:remove]
    await worker.close()
    await queue.close()


if __name__ == "__main__":
    asyncio.run(main())
