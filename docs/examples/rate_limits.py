"""Rate limits: a worker limiter shared by every worker, and a queue-wide pause for a window."""

import asyncio

from corral import Job, Queue, RateLimiter, RateLimitError, Worker


async def main() -> None:
    queue = Queue("webhooks")
    await queue.add_bulk([{"name": "call", "data": {"n": n}} for n in range(1, 4)])

    # --8<-- [start:limiter]
    # At most 2 jobs per second across every worker of the queue (Node's too).
    worker = Worker("webhooks", limiter=RateLimiter(max=2, duration=1))
    first = await worker.get_next_job("tok", block=False)
    second = await worker.get_next_job("tok", block=False)
    third = await worker.get_next_job("tok", block=False)  # the window is full
    print(f"fetched {first and first.id}, {second and second.id}, then {third}")
    print(f"rate limited: {worker.rate_limited_for > 0}")
    # --8<-- [end:limiter]
    for job in (first, second):
        assert job is not None
        await job.move_to_completed(None, "tok", fetch_next=False)
    await worker.close()

    # --8<-- [start:processor]
    callbacks = Queue("callbacks")
    answers = iter([429, 200])  # what the remote API answers, call after call

    async def call_webhook(job: Job) -> str:
        if next(answers) == 429:  # Too Many Requests
            # Hold the whole queue off for 0.5 s and put this job back without using
            # an attempt (the same as `await callbacks.rate_limit(0.5)`, then a bare
            # `raise RateLimitError()`).
            raise RateLimitError(retry_after=0.5)
        return "delivered"

    finished = asyncio.Event()
    sender = Worker("callbacks", call_webhook)
    sender.on("completed", lambda job, result: finished.set())
    job = await callbacks.add("call", {"url": "https://example.com/hook"})
    async with sender:
        await finished.wait()
    done = await callbacks.get_job(job.id)
    assert done is not None
    print(f"{done.return_value} after the limit; attempts made: {done.attempts_made}")
    # the rate-limited try did not count: attempts made is 1, the try that completed
    # --8<-- [end:processor]
    await callbacks.close()

    # --8<-- [start:queue]
    await queue.rate_limit(60)  # e.g. the remote API said "slow down": no job for 60 s
    print(f"queue limited for about {round(await queue.get_rate_limit_ttl())} s")
    # --8<-- [end:queue]
    await queue.close()


if __name__ == "__main__":
    asyncio.run(main())
