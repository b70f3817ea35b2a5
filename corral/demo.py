"""``corral demo``: the manual-fetching pattern end to end, in a few seconds.

A producer adds jobs; hand-driven workers fetch them with their own tokens,
extend locks, complete or fail them; one worker is "killed" holding a job and
the stalled checker gives that job to another worker; the queue is rate
limited; a job is moved back to wait without using an attempt. Runs on the
embedded SQLite backend in a temporary directory unless a URL is given.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from corral import LockMismatchError, Queue, Worker

__all__ = ["run_demo"]

Say = Callable[[str], None]


async def _work(
    worker: Worker, token: str, label: str, said: Say, results: dict[str, str], *, stop_after: int
) -> int:
    """Fetch-and-complete loop of one hand-driven worker; returns how many jobs it finished."""
    done = 0
    job = await worker.get_next_job(token)
    while job is not None and done < stop_after:
        await job.extend_lock(token, 10)  # a long job would keep its lock like this
        if job.data.get("flaky") and job.attempts_made == 0:
            said(f"  {label:<6} job {job.id:>2} {job.name:<14} failed (will retry)")
            job = await job.move_to_failed(
                RuntimeError("upstream timed out"), token, fetch_next=True
            )
            continue
        await asyncio.sleep(0.01)
        results[job.id] = label
        said(f"  {label:<6} job {job.id:>2} {job.name:<14} completed")
        done += 1
        job = await job.move_to_completed(
            {"thumbnail": f"{job.data.get('image', 'x')}.thumb"},
            token,
            fetch_next=done < stop_after,
        )
    if job is not None:
        # Stopped with a job in hand: give it back without using its attempt.
        await job.move_to_wait(token)
    return done


async def run_demo(url: str | None = None, *, say: Say = print) -> dict[str, Any]:
    """Run the demo against ``url`` (a fresh temporary SQLite file when None).

    Returns a summary (counts per state and what happened), also printed through ``say``.
    """
    started = time.monotonic()
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if url is None:
        tmp = tempfile.TemporaryDirectory(prefix="corral-demo-")
        url = f"sqlite:///{Path(tmp.name) / 'demo.db'}"
    name = f"demo-{uuid.uuid4().hex[:8]}"
    queue = Queue(name, url=url)
    workers: list[Worker] = []

    def worker(**options: Any) -> Worker:
        w = Worker(name, url=url, drain_delay=0.5, **options)
        workers.append(w)
        return w

    results: dict[str, str] = {}
    try:
        say(f"corral demo: queue {name!r} on {queue.url}")
        say("1. a producer adds 10 jobs (one urgent, one delayed, one flaky)")
        await queue.add_bulk(
            [{"name": "resize-image", "data": {"image": f"photo-{i}"}} for i in range(1, 7)]
        )
        await queue.add("resize-image", {"image": "hero"}, priority=1)
        await queue.add("send-report", {"to": "ops"}, delay=0.5)
        await queue.add("resize-image", {"image": "flaky", "flaky": True}, attempts=3, backoff=0.1)
        await queue.add("resize-image", {"image": "photo-7"})
        say(f"   counts: {_counts(await queue.get_job_counts())}")

        say("2. worker 'ghost' fetches a job with a 1 s lock, then dies without finishing it")
        ghost = worker(lock_duration=1, name="ghost")
        lost = await ghost.get_next_job("ghost-token")
        assert lost is not None
        say(f"   ghost holds job {lost.id} ({lost.name}); its lock expires in 1 s")
        await ghost.close()

        say("3. a wrong token cannot complete another worker's job")
        alpha = worker(name="alpha", stalled_interval=0.4)
        beta = worker(name="beta")
        held = await alpha.get_next_job("alpha-token")
        assert held is not None
        try:
            await held.move_to_completed("stolen", "beta-token", fetch_next=False)
        except LockMismatchError as exc:
            say(f"   refused: {exc}")
        await held.move_to_wait("alpha-token")
        say(f"   alpha moved job {held.id} back to wait (attempts used: {held.attempts_made})")

        say("4. the stalled checker runs; alpha and beta work through the queue")
        alpha.on("stalled", lambda job_id: say(f"  stalled checker: job {job_id} returned to wait"))
        await alpha.start_stalled_check_timer()
        done_a, done_b = await asyncio.gather(
            _work(alpha, "alpha-token", "alpha", say, results, stop_after=4),
            _work(beta, "beta-token", "beta", say, results, stop_after=3),
        )

        say("5. the queue is rate limited for 1 s: workers get no job until it passes")
        await queue.rate_limit(1)
        blocked = await beta.get_next_job("beta-token", block=False)
        say(f"   beta asked for a job: {'none' if blocked is None else blocked.id} "
            f"(rate limited for {beta.rate_limited_for:.1f} s more)")  # fmt: skip
        await asyncio.sleep(beta.rate_limited_for + 0.05)

        say("6. the ghost's job stalls back to the queue; whatever is left is finished")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            await _work(beta, "beta-token", "beta", say, results, stop_after=100)
            counts = await queue.get_job_counts()
            if (
                counts["waiting"] + counts["active"] + counts["delayed"] + counts["prioritized"]
                == 0
            ):
                break
            await asyncio.sleep(0.2)

        recovered = await queue.get_job(lost.id)
        counts = await queue.get_job_counts()
        say("")
        say(f"{'job':>4}  {'name':<14} {'state':<10} {'attempts':>8} {'stalls':>6}  worked by")
        for job_id in sorted(results, key=int):
            job = await queue.get_job(job_id)
            if job is None:
                continue
            state = await job.get_state()
            say(
                f"{job.id:>4}  {job.name:<14} {state.value:<10} {job.attempts_made:>8} "
                f"{job.stalled_counter:>6}  {results[job_id]}"
            )
        say("")
        say(f"final counts: {_counts(counts)}")
        stalled_ok = recovered is not None and recovered.stalled_counter >= 1
        say(f"ghost's job {lost.id}: stalled {getattr(recovered, 'stalled_counter', 0)} time(s), "
            f"then {await queue.get_job_state(lost.id)} by {results.get(lost.id, 'nobody')}")  # fmt: skip
        say(f"done in {time.monotonic() - started:.1f} s")
        await queue.obliterate(force=True)
        return {
            "counts": counts,
            "completed_by": dict(results),
            "stalled_recovered": stalled_ok,
            "finished": {"alpha": done_a, "beta": done_b},
        }
    finally:
        for w in workers:
            await w.close()
        await queue.close()
        if tmp is not None:
            tmp.cleanup()


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "empty"
