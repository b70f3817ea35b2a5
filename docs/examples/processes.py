"""Process workers: CPU-bound jobs on every core, and a crash that fails only its job."""

import asyncio
import os

import corral.sync
from corral import Job, Queue, Worker


# --8<-- [start:processor]
def count_primes(job: Job) -> int:
    """Pure-Python work: with processes=N, N of these run at once, one per child.

    Defined at the top level of a module, so the children can import it by name
    (a lambda or a nested function is refused when the worker is made).
    """
    below = job.data["below"]
    if below < 0:
        os._exit(3)  # a crash: only this job fails, and the child is replaced
    found = sum(1 for n in range(2, below) if all(n % d for d in range(2, int(n**0.5) + 1)))
    corral.sync.Job(job).update_progress(100)  # travels to the worker process
    return found


# --8<-- [end:processor]


async def main() -> None:
    queue = Queue("primes")
    await queue.add_bulk(
        [{"name": "count", "data": {"below": n}} for n in (10_000, 20_000, 30_000, 40_000)]
        + [{"name": "count", "data": {"below": -1}}]
    )
    # --8<-- [start:worker]
    worker = Worker("primes", count_primes, processes=2)  # or "myapp.tasks:count_primes"
    finished = asyncio.Event()
    outcomes: dict[str, str] = {}

    @worker.on("completed")
    @worker.on("failed")
    def record(job: Job, outcome: object) -> None:
        outcomes[job.id] = str(outcome)
        if len(outcomes) == 5:
            finished.set()

    run = asyncio.create_task(worker.run())  # the CLI: corral worker mod:fn --processes 2
    await finished.wait()
    await worker.close()  # children finish their jobs (within the grace), then exit
    await run
    # --8<-- [end:worker]

    for job_id in sorted(outcomes, key=int):
        job = await queue.get_job(job_id)
        assert job is not None
        if job.failed_reason is None:
            print(f"job {job.id}: {job.return_value} primes below {job.data['below']}")
        else:  # "the child process (pid …) exited with code 3 while running the job"
            print(f"job {job.id} failed: the child {job.failed_reason.split(') ', 1)[1]}")
    await queue.close()


if __name__ == "__main__":
    asyncio.run(main())
