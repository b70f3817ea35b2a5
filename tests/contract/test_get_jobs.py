"""get_jobs and get_counts: every state listed in the order the contract gives it,
sliced over the concatenation of the states asked for."""

from __future__ import annotations

import pytest

from corral.backends.base import Backend, Completed, Failed, JobState
from tests.contract.support import ALL_STATES, Clock, fetch_one, job

S = JobState


@pytest.fixture
async def every_state(backend: Backend, queue: str, clock: Clock) -> None:
    """Two jobs or more in every state, each line built out of its natural order."""
    at = clock.now
    await backend.add_jobs(queue, [job(n, at=at) for n in ("c1", "c2", "f1", "f2", "x1", "x2")])
    for name in ("c1", "c2", "f1", "f2"):
        got = await fetch_one(backend, queue, clock, name)
        await clock.advance(10)
        done = Completed("1") if name.startswith("c") else Failed("x")
        await backend.move_to_finished(queue, got.id, name, done, clock.now)
    await fetch_one(backend, queue, clock, "x1")
    await fetch_one(backend, queue, clock, "x2")
    at = clock.now
    await backend.add_jobs(
        queue,
        [
            job("w1", at=at),
            job("p2", at=at, priority=2),
            job("d2", at=at, delay_ms=20_000),
            job("w2", at=at),
            job("p1", at=at, priority=1),
            job("d1", at=at, delay_ms=10_000),
            job("wl", at=at, lifo=True),
            job("p1b", at=at, priority=1),
        ],
    )


async def names(
    backend: Backend, queue: str, *states: JobState, start: int = 0, end: int = -1
) -> list[str]:
    return [j.name for j in await backend.get_jobs(queue, states, start, end)]


@pytest.mark.usefixtures("every_state")
@pytest.mark.parametrize(
    ("state", "order"),
    [
        (S.WAITING, ["wl", "w1", "w2"]),  # the order they will be fetched
        (S.PRIORITIZED, ["p1", "p1b", "p2"]),  # by priority, then age
        (S.DELAYED, ["d1", "d2"]),  # by due time
        (S.ACTIVE, ["x2", "x1"]),  # most recently fetched first
        (S.COMPLETED, ["c2", "c1"]),  # most recently finished first
        (S.FAILED, ["f2", "f1"]),
        (S.WAITING_CHILDREN, []),
    ],
)
async def test_each_state_is_listed_in_its_order(
    backend: Backend, queue: str, state: JobState, order: list[str]
) -> None:
    assert await names(backend, queue, state) == order


@pytest.mark.usefixtures("every_state")
async def test_states_are_listed_one_after_another_and_sliced_over_them_all(
    backend: Backend, queue: str
) -> None:
    assert await names(backend, queue, S.FAILED, S.COMPLETED) == ["f2", "f1", "c2", "c1"]
    assert await names(backend, queue, S.WAITING, S.PRIORITIZED, start=2, end=4) == [
        "w2",
        "p1",
        "p1b",
    ]
    assert await names(backend, queue, S.COMPLETED, S.FAILED, start=1) == ["c1", "f2", "f1"]
    assert await names(backend, queue, S.DELAYED, start=0, end=0) == ["d1"]
    assert await names(backend, queue, S.ACTIVE, start=5) == []
    assert await backend.get_jobs(queue, []) == []


@pytest.mark.usefixtures("every_state")
async def test_listed_jobs_are_the_stored_records(backend: Backend, queue: str) -> None:
    for record in await backend.get_jobs(queue, ALL_STATES):
        assert await backend.get_job(queue, record.id) == record


@pytest.mark.usefixtures("every_state")
async def test_counts_say_how_many_jobs_are_in_each_state(backend: Backend, queue: str) -> None:
    assert await backend.get_counts(queue, ALL_STATES) == {
        S.WAITING: 3,
        S.PRIORITIZED: 3,
        S.DELAYED: 2,
        S.ACTIVE: 2,
        S.COMPLETED: 2,
        S.FAILED: 2,
        S.WAITING_CHILDREN: 0,
    }
    assert await backend.get_counts(queue, [S.FAILED]) == {S.FAILED: 2}


async def test_a_queue_never_used_lists_and_counts_nothing(backend: Backend, queue: str) -> None:
    assert await backend.get_jobs(queue, ALL_STATES) == []
    assert await backend.get_counts(queue, ALL_STATES) == dict.fromkeys(ALL_STATES, 0)
