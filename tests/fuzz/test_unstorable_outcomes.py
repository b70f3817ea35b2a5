"""What a processor or a custom backoff hands back that cannot be stored or used:
a return value JSON cannot hold, a backoff that gives no usable wait.

Each fails the attempt at once with a reason that says what and why; none leaves
its job active until the lock expires (and then fails it as "stalled more than
allowable limit"). A backoff saying "do not retry" (None, a negative number)
fails the job for good, as documented.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from corral import Backoff, Job, JobState, Queue, Worker
from tests.conformance.test_worker_run import counts_reach, wait_until


def _deep(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels):
        value = [value]
    return value


def _cycle() -> list[Any]:
    looped: list[Any] = []
    looped.append(looped)
    return looped


RETURNS: dict[str, tuple[Callable[[], Any], str]] = {
    "datetime": (lambda: datetime.now(UTC), "datetime"),
    "nan": (lambda: {"score": math.nan}, "NaN"),
    "infinity": (lambda: [math.inf], "Infinity"),
    "set": (lambda: {"tags": {"a"}}, "set"),
    "bytes": (lambda: b"\x00\x01", "bytes"),
    "decimal": (lambda: Decimal("1.5"), "Decimal"),
    "object": (lambda: object(), "object"),
    "deep": (lambda: _deep(100_000), "nested too deeply"),
    "cycle": (_cycle, "refers to itself"),
    "key": (lambda: {(1, 2): "tuple key"}, "keys must be"),
    "surrogate": (lambda: {"s": "\ud800"}, "surrogate"),
}


async def test_every_return_value_json_cannot_hold_fails_its_job_at_once(
    url: str, queue_name: str, report: list[str]
) -> None:
    async def process(job: Job) -> Any:
        return RETURNS[job.name][0]()

    async with Queue(queue_name, url=url) as queue:
        ids = {name: (await queue.add(name, {})).id for name in RETURNS}
        async with Worker(queue_name, process, url=url, lock_duration=60, drain_delay=0.1):
            await wait_until(counts_reach(queue, "failed", len(RETURNS)), timeout=30)
        unclear = []
        for name, job_id in ids.items():
            job = await queue.get_job(job_id)
            assert job is not None
            assert await job.get_state() is JobState.FAILED, name
            reason = job.failed_reason or ""
            if not (
                reason.startswith("the processor's return value could not be stored")
                and RETURNS[name][1] in reason
            ):
                unclear.append(f"{name}: {reason}")
            # One attempt, failed when it finished: not a stall.
            assert (job.attempts_made, job.stalled_counter) == (1, 0), name
    report.append(
        f"{len(RETURNS)} unstorable return values: all failed at once, {unclear or 'each saying why'}"
    )
    assert not unclear, unclear


BACKOFFS: dict[str, tuple[Any, str | None]] = {
    "infinity": (math.inf, "not retried"),
    "minus-infinity": (-math.inf, None),
    "nan": (math.nan, "NaN"),
    "huge": (1e300, "not retried"),
    "beyond-the-store": (2.0**60, "not retried"),
    "text": ("10", "not a number"),
    "bool": (True, "not a number"),
    "negative": (-1, None),
    "none": (None, None),
}


async def test_every_unusable_custom_backoff_fails_the_job_at_once(
    url: str, queue_name: str, report: list[str]
) -> None:
    async def process(job: Job) -> None:
        raise RuntimeError("boom")

    def strategy(attempts: int, kind: str, error: BaseException) -> Any:
        return BACKOFFS[kind][0]

    async with Queue(queue_name, url=url) as queue:
        ids = {
            kind: (await queue.add("x", {}, attempts=5, backoff=Backoff(kind, 0))).id
            for kind in BACKOFFS
        }
        async with Worker(
            queue_name, process, url=url, lock_duration=60, drain_delay=0.1,
            backoff_strategy=strategy,
        ):  # fmt: skip
            await wait_until(counts_reach(queue, "failed", len(BACKOFFS)), timeout=30)
        for kind, job_id in ids.items():
            job = await queue.get_job(job_id)
            assert job is not None
            assert await job.get_state() is JobState.FAILED, kind
            assert (job.attempts_made, job.stalled_counter) == (1, 0), kind
            said = BACKOFFS[kind][1]
            if said is None:  # "do not retry": the job's own reason, nothing added
                assert job.failed_reason == "boom", (kind, job.failed_reason)
            else:
                assert job.failed_reason is not None
                assert job.failed_reason.startswith("boom (not retried: "), job.failed_reason
                assert said in job.failed_reason, (kind, job.failed_reason)
    report.append(f"{len(BACKOFFS)} unusable backoffs: each failed its job at once, none stalled")
