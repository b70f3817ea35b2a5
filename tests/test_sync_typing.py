"""What a type checker sees of ``corral.sync``: the async classes' real signatures.

``mypy --strict`` checks this file with the rest of ``tests/`` (``scripts/check``).
Each ``assert_type`` fails the check if a blocking twin lost its return type, and
each ``# type: ignore[...]`` line in :func:`_calls_a_type_checker_must_refuse`
fails it (as an unused ignore) if a twin lost its parameter types, e.g. if
``sync.Queue.add`` accepted anything. The test runs the same calls for real.
"""

from __future__ import annotations

from typing import Any, assert_type

from corral import JobState, QueueEvent, sync


def test_the_blocking_api_as_a_type_checker_sees_it(sqlite_url: str, queue_name: str) -> None:
    queue = assert_type(sync.Queue(queue_name, url=sqlite_url), sync.Queue)
    worker = assert_type(sync.Worker(queue_name, url=sqlite_url, drain_delay=1), sync.Worker)
    with queue, worker, sync.QueueEvents(queue_name, url=sqlite_url) as events:
        assert_type(events, sync.QueueEvents)
        added = assert_type(queue.add("send", {"to": "a"}, delay=0, priority=1), sync.Job)
        assert_type(added.id, str)
        assert_type(added.data, Any)
        assert_type(queue.add_bulk([{"name": "bulk"}]), list[sync.Job])
        assert_type(queue.get_job(added.id), sync.Job | None)
        assert_type(queue.get_jobs("prioritized", start=0, end=-1), list[sync.Job])
        assert_type(queue.get_job_counts("waiting"), dict[str, int])
        assert_type(queue.get_job_state(added.id), JobState)
        assert_type(queue.is_paused(), bool)
        assert_type(queue.name, str)
        job = assert_type(worker.get_next_job("tok", block=False), sync.Job | None)
        assert job is not None
        assert_type(job.token, str | None)
        assert_type(job.log("line", keep=5), int)
        assert_type(job.move_to_completed("ok", "tok", fetch_next=True), sync.Job | None)
        assert_type(sync.Job.create(queue, "made", {"x": 1}), sync.Job)
        assert_type(sync.Job.from_json(queue, {"name": "raw"}, "raw-1"), sync.Job)
        assert_type(worker.rate_limited_for, float)
        assert_type(worker.concurrency, int)
        assert_type(worker.check_stalled_jobs(), list[str])
        assert_type(events.read(block=0.01), list[QueueEvent])
        assert_type(events.last_event_id, str | None)


def _calls_a_type_checker_must_refuse(
    queue: sync.Queue, worker: sync.Worker, job: sync.Job
) -> None:
    # Never called: each line is wrong, and mypy must say so.
    queue.add(42)  # type: ignore[arg-type]
    queue.add("send", delay="soon")  # type: ignore[arg-type]
    queue.add("send", colour="red")  # type: ignore[call-arg]
    queue.get_job(7)  # type: ignore[arg-type]
    worker.get_next_job(block="yes")  # type: ignore[arg-type]
    worker.run(grace="long")  # type: ignore[arg-type]
    job.move_to_failed("not an exception")  # type: ignore[arg-type]
    job.extend_lock("tok", "long")  # type: ignore[arg-type]
    sync.Queue(queue_name=1)  # type: ignore[call-arg]
    sync.Worker("q", lock_duration="long")  # type: ignore[arg-type]
    sync.QueueEvents("q", batch="many")  # type: ignore[arg-type]
