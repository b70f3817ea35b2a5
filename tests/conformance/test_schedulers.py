"""Job schedulers on every backend: every / cron schedules, one pending iteration,
limits, start / end, replacing, listing and removing; bad input writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from corral import JobState, Queue
from tests.conformance.conftest import ApiClock, WorkerFactory


def _due_ms(job_id: str) -> int:
    return int(job_id.rsplit(":", 1)[1])


async def _pending(queue: Queue) -> list[str]:
    jobs = await queue.get_jobs("delayed", "waiting", "prioritized")
    return [j.id for j in jobs]


async def test_every_schedule_runs_now_and_keeps_one_iteration_pending(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    first = await queue.upsert_job_scheduler("tick", every=60, data={"n": 1})
    assert first.id.startswith("repeat:tick:")
    assert first.name == "tick"
    assert await queue.get_job_state(first.id) is JobState.WAITING
    worker = make_worker()
    job = await worker.get_next_job("t", block=False)
    assert job is not None
    assert job.id == first.id
    assert job.data == {"n": 1}
    # Starting the iteration added the next one, 60 s later, and only that one.
    pending = await _pending(queue)
    assert len(pending) == 1
    assert _due_ms(pending[0]) == _due_ms(first.id) + 60_000
    assert await queue.get_job_state(pending[0]) is JobState.DELAYED
    await job.move_to_completed("done", "t", fetch_next=False)
    assert await worker.get_next_job("t2", block=False) is None
    await clock.advance(61)
    second = await worker.get_next_job("t2", block=False)
    assert second is not None
    assert second.id == pending[0]
    scheduler = await queue.get_job_scheduler("tick")
    assert scheduler is not None
    assert scheduler.iteration_count == 3
    assert scheduler.every == 60
    assert len(await _pending(queue)) == 1


async def test_a_slow_iteration_never_piles_up_iterations(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    await queue.upsert_job_scheduler("slow", every=10)
    worker = make_worker(lock_duration=3600)
    running = await worker.get_next_job("a", block=False)
    assert running is not None
    await clock.advance(100)  # the job runs for ten periods
    nxt = await worker.get_next_job("b", block=False)
    assert nxt is not None
    assert len(await _pending(queue)) == 1
    # Catching up: the next run is on the slot grid after now, not ten runs behind.
    (pending,) = await _pending(queue)
    assert _due_ms(pending) > clock.now_ms()


async def test_cron_schedule_in_a_zone(queue: Queue, clock: ApiClock) -> None:
    job = await queue.upsert_job_scheduler(
        "nightly", cron="0 3 * * *", tz="Europe/Paris", name="report", data={"kind": "daily"}
    )
    assert job.name == "report"
    assert await queue.get_job_state(job.id) is JobState.DELAYED
    due = datetime.fromtimestamp(_due_ms(job.id) / 1000, UTC)
    local = due.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    assert (local.hour, local.minute) == (3, 0)
    assert 0 < _due_ms(job.id) - clock.now_ms() <= 86_400_000
    scheduler = await queue.get_job_scheduler("nightly")
    assert scheduler is not None
    assert scheduler.cron == "0 3 * * *"
    assert scheduler.tz == "Europe/Paris"
    assert scheduler.every is None
    assert scheduler.next_run == due
    assert scheduler.data == {"kind": "daily"}
    assert scheduler.name == "report"


async def test_cron_iteration_adds_the_next_run_when_it_starts(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    job = await queue.upsert_job_scheduler("minutely", cron="* * * * *", attempts=3)
    await clock.advance(61)
    worker = make_worker()
    got = await worker.get_next_job("t", block=False)
    assert got is not None
    assert got.id == job.id
    assert got.opts.attempts == 3
    (pending,) = await _pending(queue)
    assert _due_ms(pending) > _due_ms(job.id)
    assert _due_ms(pending) % 60_000 == 0
    nxt = await queue.get_job(pending)
    assert nxt is not None
    assert nxt.opts.attempts == 3


async def test_immediately_runs_a_cron_schedule_now(queue: Queue) -> None:
    job = await queue.upsert_job_scheduler("now", cron="0 0 1 1 *", immediately=True)
    assert await queue.get_job_state(job.id) is JobState.WAITING


async def test_limit_ends_the_schedule(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    await queue.upsert_job_scheduler("twice", every=5, limit=2)
    worker = make_worker()
    runs = []
    for _ in range(4):
        job = await worker.get_next_job("t", block=False)
        if job is not None:
            runs.append(job.id)
            await job.move_to_completed(None, "t", fetch_next=False)
        await clock.advance(6)
    assert len(runs) == 2
    assert await _pending(queue) == []


async def test_end_ends_the_schedule_and_start_delays_the_first_run(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    now = clock.now_ms() / 1000
    job = await queue.upsert_job_scheduler("window", every=10, start=now + 30, end=now + 45)
    assert _due_ms(job.id) == round((now + 30) * 1000)
    worker = make_worker()
    assert await worker.get_next_job("t", block=False) is None
    runs = 0
    for _ in range(8):
        await clock.advance(10)
        got = await worker.get_next_job("t", block=False)
        if got is not None:
            runs += 1
            await got.move_to_completed(None, "t", fetch_next=False)
    assert runs == 2  # at start and 10 s later; the next slot is past the end
    assert await _pending(queue) == []


async def test_upsert_replaces_the_definition_and_its_pending_iteration(
    queue: Queue, clock: ApiClock
) -> None:
    first = await queue.upsert_job_scheduler("r", cron="0 * * * *", data={"v": 1})
    second = await queue.upsert_job_scheduler("r", cron="30 * * * *", data={"v": 2})
    assert await queue.get_job(first.id) is None or first.id == second.id
    assert await _pending(queue) == [second.id]
    scheduler = await queue.get_job_scheduler("r")
    assert scheduler is not None
    assert scheduler.cron == "30 * * * *"
    assert scheduler.data == {"v": 2}
    assert await queue.get_job_schedulers_count() == 1
    # The same `every` again keeps its slot.
    a = await queue.upsert_job_scheduler("e", every=300)
    await clock.advance(1)
    b = await queue.upsert_job_scheduler("e", every=300, data={"new": True})
    assert a.id == b.id
    assert b.data == {"new": True}


async def test_list_count_and_remove(queue: Queue) -> None:
    await queue.upsert_job_scheduler("later", cron="0 0 1 1 *")
    await queue.upsert_job_scheduler("sooner", every=3600)
    listed = await queue.get_job_schedulers()
    assert [s.id for s in listed] == ["sooner", "later"]  # next run first
    assert [s.id for s in await queue.get_job_schedulers(1, 1)] == ["later"]
    assert await queue.get_job_schedulers_count() == 2
    later = await queue.get_job_scheduler("later")
    assert later is not None
    assert await queue.remove_job_scheduler("later") is True
    assert await queue.remove_job_scheduler("later") is False
    assert await queue.get_job_scheduler("later") is None
    assert await queue.get_job_schedulers_count() == 1
    pending = await _pending(queue)
    assert [p.split(":")[1] for p in pending] == ["sooner"]


async def test_a_removed_scheduler_adds_no_more_iterations(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    job = await queue.upsert_job_scheduler("gone", every=60)
    assert await queue.remove_job_scheduler("gone")
    # The waiting iteration stays (only a delayed one is removed) but moves nothing on.
    got = await make_worker().get_next_job("t", block=False)
    assert got is not None
    assert got.id == job.id
    assert await _pending(queue) == []


async def test_two_workers_add_the_next_iteration_once(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    await queue.upsert_job_scheduler("shared", every=30)
    one, two = make_worker(), make_worker()
    first = await one.get_next_job("a", block=False)
    assert first is not None
    assert await two.get_next_job("b", block=False) is None
    assert len(await _pending(queue)) == 1
    await clock.advance(31)
    second = await two.get_next_job("b", block=False)
    assert second is not None
    assert len(await _pending(queue)) == 1


async def test_the_iteration_job_options_come_from_the_template(queue: Queue) -> None:
    job = await queue.upsert_job_scheduler(
        "opts", every=60, priority=3, attempts=2, backoff=5, remove_on_complete=True
    )
    assert job.opts.priority == 3
    assert job.opts.attempts == 2
    assert job.opts.remove_on_complete is True
    assert await queue.get_job_state(job.id) is JobState.PRIORITIZED
    scheduler = await queue.get_job_scheduler("opts")
    assert scheduler is not None
    assert scheduler.options.attempts == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"every": 5, "cron": "* * * * *"}, "not both"),
        ({}, "give every="),
        ({"cron": "61 * * * *"}, "cannot be read"),
        ({"cron": "* * *"}, "3 fields"),
        ({"cron": "* * * * *", "tz": "Mars/Olympus"}, "unknown time zone"),
        ({"every": 0}, "more than 0"),
        ({"every": -1}, "more than 0"),
        ({"every": 5, "start": 2_000_000_000, "end": 1_999_999_999}, "end must be after start"),
        ({"every": 5, "end": 1}, "in the past"),
        ({"every": 5, "tz": "UTC"}, "cron patterns only"),
        ({"every": 5, "limit": 0}, "at least 1"),
        ({"cron": "* * * * *", "immediately": True, "start": 2_000_000_000}, "not both"),
    ],
)
async def test_bad_input_raises_and_writes_nothing(
    queue: Queue, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await queue.upsert_job_scheduler("bad", **kwargs)  # type: ignore[arg-type]
    assert await queue.get_job_schedulers_count() == 0
    assert await _pending(queue) == []


async def test_bad_scheduler_ids_are_refused(queue: Queue) -> None:
    with pytest.raises(ValueError, match="must not contain ':'"):
        await queue.upsert_job_scheduler("a:b", every=5)
    with pytest.raises(ValueError, match="non-empty"):
        await queue.upsert_job_scheduler("", every=5)
    with pytest.raises(TypeError, match="must be a string"):
        await queue.upsert_job_scheduler(5, every=5)  # type: ignore[arg-type]


def _freeze(monkeypatch: pytest.MonkeyPatch) -> None:
    from corral import _clock

    frozen = _clock.now_ms()
    monkeypatch.setattr(_clock, "now_ms", lambda: frozen)


async def test_an_every_upsert_skips_the_slot_of_a_running_iteration(
    queue: Queue, make_worker: WorkerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    _freeze(monkeypatch)
    first = await queue.upsert_job_scheduler("busy", every=60)
    running = await make_worker().get_next_job("t", block=False)
    assert running is not None
    assert running.id == first.id
    # A new `every` restarts the schedule now, whose slot the running job holds.
    replaced = await queue.upsert_job_scheduler("busy", every=30)
    assert replaced.id != first.id
    assert _due_ms(replaced.id) == _due_ms(first.id) + 30_000


async def test_a_cron_upsert_onto_a_running_iteration_is_refused(
    queue: Queue, make_worker: WorkerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from corral import JobError

    _freeze(monkeypatch)
    first = await queue.upsert_job_scheduler("c", cron="0 0 1 1 *", immediately=True)
    running = await make_worker().get_next_job("t", block=False)
    assert running is not None
    assert running.id == first.id
    with pytest.raises(JobError, match="not the scheduler's pending iteration"):
        await queue.upsert_job_scheduler("c", cron="0 0 1 1 *", immediately=True)


async def test_reads_of_unknown_schedulers(queue: Queue) -> None:
    assert await queue.get_job_scheduler("none") is None
    assert await queue.remove_job_scheduler("none") is False
    assert await queue.get_job_schedulers() == []
    await queue.upsert_job_scheduler("one", every=60)
    assert await queue.get_job_schedulers(3, 1) == []
    assert await queue.get_job_scheduler("none") is None
    assert await queue.remove_job_scheduler("none") is False
    with pytest.raises(TypeError, match="must be a string"):
        await queue.get_job_scheduler(5)  # type: ignore[arg-type]


async def test_an_iteration_of_a_removed_scheduler_moves_nothing_on(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    await queue.upsert_job_scheduler("gone2", every=60)
    await queue.remove_job_scheduler("gone2")
    await queue.upsert_job_scheduler("other", every=60)  # the queue exists, the scheduler not
    worker = make_worker()
    for _ in range(2):
        job = await worker.get_next_job("t", block=False)
        assert job is not None
    assert [p.split(":")[1] for p in await _pending(queue)] == ["other"]
