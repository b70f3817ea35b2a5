"""Queue maintenance: clean, drain, retry_jobs, promote_jobs, trim_events, and
listing jobs by a list of states in either order."""

from __future__ import annotations

import pytest

from corral import FlowProducer, JobState, Queue
from tests.conformance.conftest import ApiClock, WorkerFactory


async def finish(make_worker: WorkerFactory, n: int, *, fail: bool = False) -> list[str]:
    """Take ``n`` jobs and complete (or fail) them; their ids in finish order."""
    worker = make_worker()
    ids = []
    for _ in range(n):
        job = await worker.get_next_job("t", block=False)
        assert job is not None
        if fail:
            await job.move_to_failed(RuntimeError("boom"), "t")
        else:
            await job.move_to_completed("ok", "t", fetch_next=False)
        ids.append(job.id)
    return ids


async def test_clean_removes_finished_jobs_older_than_the_grace(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    for i in range(5):
        await queue.add("j", {"i": i})
    old = await finish(make_worker, 3)
    await clock.advance(120)
    recent = await finish(make_worker, 2)
    assert await queue.clean("completed", grace=60) == old
    assert [j.id for j in await queue.get_jobs("completed", asc=True)] == recent
    assert await queue.get_job(old[0]) is None
    assert await queue.get_job_logs(old[0]) == []
    # grace 0 takes the rest; a limit takes the oldest first.
    assert await queue.clean("completed", grace=0, limit=1) == recent[:1]
    assert await queue.clean("completed", grace=0) == recent[1:]
    assert await queue.get_job_counts("completed") == {"completed": 0}


async def test_clean_takes_failed_waiting_and_delayed_jobs(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    await queue.add("f", {})
    (failed,) = await finish(make_worker, 1, fail=True)
    waiting = await queue.add("w", {})
    delayed = await queue.add("d", {}, delay=600)
    prioritized = await queue.add("p", {}, priority=3)
    await clock.advance(10)
    fresh = await queue.add("fresh", {})
    assert await queue.clean("failed", grace=5) == [failed]
    assert await queue.clean("wait", grace=5) == [waiting.id]
    assert await queue.clean("delayed", grace=5) == [delayed.id]
    assert await queue.clean("prioritized", grace=5) == [prioritized.id]
    assert await queue.get_job_state(fresh.id) is JobState.WAITING


async def test_clean_leaves_locked_active_jobs(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    await queue.add("a", {})
    await queue.add("b", {})
    held = await make_worker(lock_duration=300).get_next_job("t", block=False)
    lost = await make_worker(lock_duration=30).get_next_job("u", block=False)
    assert held is not None
    assert lost is not None
    await clock.advance(31)
    assert await queue.clean("active", grace=0) == [lost.id]
    assert await queue.get_job_state(held.id) is JobState.ACTIVE


async def test_clean_refuses_a_state_it_cannot_take(queue: Queue) -> None:
    with pytest.raises(ValueError, match="known: completed, failed"):
        await queue.clean("finished", grace=0)
    with pytest.raises(ValueError, match=r"clean\('waiting'"):
        await queue.clean("paused", grace=0)
    with pytest.raises(ValueError, match="grace"):
        await queue.clean("completed", grace=-1)
    with pytest.raises(ValueError, match="limit"):
        await queue.clean("completed", grace=0, limit=-1)


async def test_clean_of_a_child_releases_its_parent(url: str, queue: Queue) -> None:
    async with FlowProducer(url=url) as flows:
        tree = await flows.add(
            {"name": "parent", "queue_name": queue.name, "children": [
                {"name": "child", "queue_name": queue.name},
            ]}
        )  # fmt: skip
    (child,) = tree.children or []
    assert await queue.clean("waiting", grace=0) == [child.job.id]
    assert await queue.get_job_state(tree.job.id) is JobState.WAITING


async def test_drain_removes_what_waits_and_keeps_the_rest(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    await queue.add("done", {})
    await finish(make_worker, 1)
    await queue.add("active", {})
    active = await make_worker().get_next_job("t", block=False)
    assert active is not None
    for i in range(3):
        await queue.add("w", {"i": i})
    await queue.add("p", {}, priority=1)
    delayed = await queue.add("d", {}, delay=600)
    assert await queue.drain() == 4
    counts = await queue.get_job_counts("waiting", "prioritized", "delayed", "active")
    assert counts == {"waiting": 0, "prioritized": 0, "delayed": 1, "active": 1}
    assert await queue.drain(delayed=True) == 1
    assert await queue.get_job(delayed.id) is None
    assert await queue.get_job_counts("completed") == {"completed": 1}


async def test_drain_works_in_batches_past_one_batch(queue: Queue) -> None:
    await queue.add_bulk([{"name": "j", "data": {"i": i}} for i in range(1203)])
    assert await queue.drain() == 1203
    assert await queue.get_job_counts("waiting") == {"waiting": 0}


async def test_retry_jobs_runs_failed_jobs_again(queue: Queue, make_worker: WorkerFactory) -> None:
    for i in range(5):
        await queue.add("j", {"i": i})
    failed = await finish(make_worker, 5, fail=True)
    assert await queue.retry_jobs(count=2) == 5
    waiting = await queue.get_jobs("waiting")
    assert sorted(j.id for j in waiting) == sorted(failed)
    assert all(j.failed_reason is None and j.finished_on is None for j in waiting)
    assert waiting[0].attempts_made == 1  # attempts are kept
    assert await queue.retry_jobs() == 0


async def test_retry_jobs_takes_completed_jobs_and_refuses_other_states(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    await queue.add("j", {})
    (done,) = await finish(make_worker, 1)
    assert await queue.retry_jobs("completed") == 1
    job = await queue.get_job(done)
    assert job is not None
    assert job.return_value is None
    assert await job.get_state() is JobState.WAITING
    with pytest.raises(ValueError, match="'failed' or 'completed'"):
        await queue.retry_jobs("delayed")
    with pytest.raises(ValueError, match="count"):
        await queue.retry_jobs(count=0)


async def test_promote_jobs_runs_every_delayed_job_now(queue: Queue) -> None:
    plain = [await queue.add("d", {"i": i}, delay=600 + i) for i in range(3)]
    ranked = await queue.add("p", {}, delay=700, priority=2)
    assert await queue.promote_jobs(count=2) == 4
    assert await queue.get_job_counts("delayed", "waiting", "prioritized") == {
        "delayed": 0,
        "waiting": 4,
        "prioritized": 0,
    }
    job = await queue.get_job(plain[0].id)
    assert job is not None
    assert job.delay == 0
    # As Node's promoteJobs: a job with a priority waits in line too, soonest due first.
    waiting = await queue.get_jobs("waiting", asc=True)
    assert [j.id for j in waiting] == [*(p.id for p in plain), ranked.id]
    assert waiting[-1].priority == 2


async def test_retry_jobs_puts_prioritized_and_lifo_jobs_in_line_behind_the_waiting(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    ranked = await queue.add("ranked", {}, priority=5)
    last_in = await queue.add("lifo", {}, lifo=True)
    plain = await queue.add("plain", {})
    taken = await finish(make_worker, 3, fail=True)
    assert taken == [last_in.id, plain.id, ranked.id]
    # Oldest failure first (failures within one millisecond go by id).
    failed = [j.id for j in await queue.get_jobs("failed", asc=True)]
    fresh = await queue.add("fresh", {})
    assert await queue.retry_jobs() == 3
    assert await queue.get_job_counts("waiting", "prioritized") == {"waiting": 4, "prioritized": 0}
    waiting = await queue.get_jobs("waiting", asc=True)
    assert [j.id for j in waiting] == [fresh.id, *failed]
    assert {j.id: j.priority for j in waiting}[ranked.id] == 5
    worker = make_worker()
    started = [await worker.get_next_job("t", block=False) for _ in range(4)]
    assert [j.id for j in started if j is not None] == [fresh.id, *failed]


async def test_trim_events_keeps_the_newest(queue: Queue) -> None:
    for i in range(10):
        await queue.add("j", {"i": i})
    await queue.trim_events(3)
    events = await queue.backend.read_events(queue.name, "0", count=100)
    assert len(events) == 3
    assert events[-1].fields.get("jobId") == "10"
    await queue.trim_events(0)
    assert await queue.backend.read_events(queue.name, "0", count=100) == []


async def test_get_jobs_and_counts_take_a_list_of_states(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    for i in range(4):
        await queue.add("j", {"i": i})
    done = await finish(make_worker, 2)
    failed = await finish(make_worker, 1, fail=True)
    counts = await queue.get_job_counts(["failed", "completed"])
    assert counts == {"failed": 1, "completed": 2}
    listed = await queue.get_jobs(["failed", "completed"])
    assert [j.id for j in listed] == failed + done[::-1]
    oldest = await queue.get_jobs(["completed", "waiting"], asc=True)
    assert [j.id for j in oldest] == [*done, "4"]
    newest = await queue.get_jobs(["waiting", "completed"], asc=False, start=1, end=1)
    assert [j.id for j in newest] == [done[1]]
    with pytest.raises(ValueError, match="known:"):
        await queue.get_jobs(["failed", "nope"])


async def test_get_jobs_asc_orders_waiting_and_delayed_both_ways(queue: Queue) -> None:
    for i in range(3):
        await queue.add(f"w{i}", {})
    for i in range(3):
        await queue.add(f"d{i}", {}, delay=100 + i)
    assert [j.name for j in await queue.get_jobs("waiting", asc=True)] == ["w0", "w1", "w2"]
    assert [j.name for j in await queue.get_jobs("waiting", asc=False)] == ["w2", "w1", "w0"]
    page = await queue.get_jobs("delayed", asc=False, start=0, end=1)
    assert [j.name for j in page] == ["d2", "d1"]
    with pytest.raises(TypeError, match="asc"):
        await queue.get_jobs("waiting", asc="yes")  # type: ignore[arg-type]


async def test_drain_keeps_a_job_schedulers_next_run(queue: Queue) -> None:
    upcoming = await queue.upsert_job_scheduler("nightly", cron="0 3 * * *")
    assert await queue.get_job_state(upcoming.id) is JobState.DELAYED
    await queue.add("other", {}, delay=600)
    assert await queue.drain(delayed=True) == 1
    assert await queue.get_job_state(upcoming.id) is JobState.DELAYED


async def test_drain_keeps_a_schedulers_next_run_that_is_due_or_prioritized(
    queue: Queue,
) -> None:
    due = await queue.upsert_job_scheduler("every-minute", every=60)
    ranked = await queue.upsert_job_scheduler("ranked", every=60, priority=4)
    assert await queue.get_job_state(due.id) is JobState.WAITING
    assert await queue.get_job_state(ranked.id) is JobState.PRIORITIZED
    await queue.add_bulk([{"name": "other"}] * 1203)  # more than one batch
    await queue.add("urgent", {}, priority=1)
    assert await queue.drain(delayed=True) == 1204
    assert [j.id for j in await queue.get_jobs("waiting")] == [due.id]
    assert [j.id for j in await queue.get_jobs("prioritized")] == [ranked.id]


async def test_clean_of_waiting_jobs_goes_past_a_batch_of_young_ones(
    queue: Queue, clock: ApiClock
) -> None:
    old = [await queue.add("old", {"i": i}) for i in range(3)]
    await clock.advance(10)
    # Taken first (lifo), so they sit among the oldest entries of the line.
    await queue.add_bulk([{"name": "young", "lifo": True}] * 1100)
    assert await queue.clean("waiting", grace=5, limit=2) == [old[0].id, old[1].id]
    assert await queue.clean("waiting", grace=5) == [old[2].id]
    assert await queue.get_job_counts("waiting") == {"waiting": 1100}


async def test_clean_of_prioritized_jobs_goes_past_a_batch_of_young_ones(
    queue: Queue, clock: ApiClock
) -> None:
    old = [await queue.add("old", {"i": i}, priority=9) for i in range(3)]
    await clock.advance(10)
    # A higher priority: ahead of the old ones in the line.
    await queue.add_bulk([{"name": "young", "priority": 1}] * 1100)
    assert await queue.clean("prioritized", grace=5, limit=2) == [old[0].id, old[1].id]
    assert await queue.clean("prioritized", grace=5) == [old[2].id]
    assert await queue.get_job_counts("prioritized") == {"prioritized": 1100}


async def test_clean_keeps_a_schedulers_next_run(queue: Queue, clock: ApiClock) -> None:
    nightly = await queue.upsert_job_scheduler("nightly", cron="0 3 * * *")
    due = await queue.upsert_job_scheduler("every-minute", every=60)
    other = await queue.add("other", {}, delay=600)
    await clock.advance(10)
    assert await queue.clean("delayed", grace=0) == [other.id]
    assert await queue.clean("waiting", grace=0) == []
    assert await queue.get_job_state(nightly.id) is JobState.DELAYED
    assert await queue.get_job_state(due.id) is JobState.WAITING
