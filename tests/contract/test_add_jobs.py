"""add_jobs: ids, custom ids that already exist, where a new job goes, and its events."""

from __future__ import annotations

from corral.backends.base import Backend, JobState
from tests.contract.support import Clock, events_after, job


async def test_generated_ids_count_every_add_including_custom_ids(
    backend: Backend, queue: str, clock: Clock
) -> None:
    at = clock.now
    assert await backend.add_jobs(queue, [job(at=at), job(at=at, job_id="mine"), job(at=at)]) == [
        "1",
        "mine",
        "3",
    ]
    assert await backend.add_jobs(queue, [job(at=at)]) == ["4"]
    assert await backend.add_jobs(queue, []) == []


async def test_an_existing_custom_id_adds_nothing_and_returns_that_id(
    backend: Backend, queue: str, clock: Clock
) -> None:
    at = clock.now
    await backend.add_jobs(queue, [job("first", at=at, job_id="mine")])
    before = await backend.get_job(queue, "mine")
    cursor = await backend.events_cursor(queue)
    ids = await backend.add_jobs(queue, [job("second", at=at + 1, job_id="mine"), job("x", at=at)])
    assert ids == ["mine", "3"]
    assert await backend.get_job(queue, "mine") == before
    assert (await backend.get_counts(queue, [JobState.WAITING]))[JobState.WAITING] == 2
    assert (await events_after(backend, queue, cursor))[0] == ("duplicated", {"jobId": "mine"})


async def test_the_same_custom_id_twice_in_one_batch_adds_one_job(
    backend: Backend, queue: str, clock: Clock
) -> None:
    at = clock.now
    ids = await backend.add_jobs(
        queue, [job("a", at=at, job_id="same"), job("b", at=at, job_id="same")]
    )
    assert ids == ["same", "same"]
    stored = await backend.get_job(queue, "same")
    assert stored is not None
    assert stored.name == "a"
    assert (await backend.get_counts(queue, [JobState.WAITING]))[JobState.WAITING] == 1


async def test_a_job_is_stored_as_it_was_given(backend: Backend, queue: str, clock: Clock) -> None:
    (job_id,) = await backend.add_jobs(queue, [job("mail", at=clock.now, priority=4)])
    stored = await backend.get_job(queue, job_id)
    assert stored is not None
    assert (stored.name, stored.data, stored.opts) == ("mail", '{"n":1}', '{"attempts":0}')
    assert (stored.timestamp_ms, stored.delay_ms, stored.priority) == (clock.now, 0, 4)
    assert (stored.attempts_made, stored.attempts_started, stored.stalled_counter) == (0, 0, 0)
    assert stored.processed_on_ms is None
    assert stored.finished_on_ms is None
    assert await backend.get_job(queue, "nope") is None


async def test_each_job_goes_to_the_state_its_options_say(
    backend: Backend, queue: str, clock: Clock
) -> None:
    at = clock.now
    await backend.add_jobs(
        queue,
        [
            job("plain", at=at),
            job("prio", at=at, priority=3),
            job("later", at=at, delay_ms=5_000),
            job("later-prio", at=at, delay_ms=5_000, priority=3),
        ],
    )
    states = [await backend.get_state(queue, i) for i in "1234"]
    assert states == [JobState.WAITING, JobState.PRIORITIZED, JobState.DELAYED, JobState.DELAYED]
    assert await backend.get_state(queue, "nope") is JobState.UNKNOWN


async def test_adding_emits_added_then_waiting_or_delayed(
    backend: Backend, queue: str, clock: Clock
) -> None:
    at = clock.now
    await backend.add_jobs(
        queue,
        [job("a", at=at), job("p", at=at, priority=2), job("d", at=at, delay_ms=5_000)],
    )
    assert await events_after(backend, queue, "0") == [
        ("added", {"jobId": "1", "name": "a"}),
        ("waiting", {"jobId": "1"}),
        ("added", {"jobId": "2", "name": "p"}),
        ("waiting", {"jobId": "2"}),
        ("added", {"jobId": "3", "name": "d"}),
        ("delayed", {"jobId": "3", "delay": str(at + 5_000)}),
    ]
