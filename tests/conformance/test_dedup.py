"""Deduplication on every backend: simple, throttle, debounce, keep_last_if_active
and reschedule, as BullMQ 6 defines them; the kept job is returned, and event
``deduplicated`` says so."""

from __future__ import annotations

import pytest

from corral import Deduplication, Queue
from tests.conformance.conftest import ApiClock, WorkerFactory


async def _waiting(queue: Queue) -> list[str]:
    return [j.id for j in await queue.get_jobs("waiting", "delayed", "prioritized")]


async def test_simple_mode_keeps_the_first_while_it_is_unfinished(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    first = await queue.add("sync", {"n": 1}, deduplication={"id": "user-42"})
    again = await queue.add("sync", {"n": 2}, deduplication={"id": "user-42"})
    assert again.id == first.id
    assert again.data == {"n": 1}  # the kept job, not the refused add
    assert await _waiting(queue) == [first.id]
    assert await queue.get_deduplication_job_id("user-42") == first.id
    worker = make_worker()
    job = await worker.get_next_job("t", block=False)
    assert job is not None
    # Still unfinished while active.
    assert (await queue.add("sync", {"n": 3}, deduplication={"id": "user-42"})).id == first.id
    await job.move_to_completed(None, "t", fetch_next=False)
    assert await queue.get_deduplication_job_id("user-42") is None
    fresh = await queue.add("sync", {"n": 4}, deduplication={"id": "user-42"})
    assert fresh.id != first.id
    assert fresh.data == {"n": 4}


async def test_throttle_mode_holds_the_id_for_its_ttl(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    first = await queue.add("t", {}, deduplication={"id": "thr", "ttl": 5})
    worker = make_worker()
    job = await worker.get_next_job("t", block=False)
    assert job is not None
    await job.move_to_completed(None, "t", fetch_next=False)
    # Finished, but the ttl still holds the id.
    assert (await queue.add("t", {}, deduplication={"id": "thr", "ttl": 5})).id == first.id
    await clock.advance(6)
    assert await queue.get_deduplication_job_id("thr") is None
    second = await queue.add("t", {}, deduplication={"id": "thr", "ttl": 5})
    assert second.id != first.id


async def test_extend_restarts_the_ttl_on_each_refused_add(queue: Queue, clock: ApiClock) -> None:
    rule = {"id": "ext", "ttl": 5, "extend": True}
    first = await queue.add("t", {}, deduplication=rule)
    await clock.advance(4)
    assert (await queue.add("t", {}, deduplication=rule)).id == first.id
    await clock.advance(4)  # 8 s after the first add, 4 s after the refused one
    assert (await queue.add("t", {}, deduplication=rule)).id == first.id
    await clock.advance(6)
    assert (await queue.add("t", {}, deduplication=rule)).id != first.id


async def test_debounce_mode_keeps_the_last_add(queue: Queue) -> None:
    rule = Deduplication(id="deb", ttl=5, extend=True, replace=True)
    first = await queue.add("save", {"v": 1}, delay=5, deduplication=rule)
    second = await queue.add("save", {"v": 2}, delay=5, deduplication=rule)
    third = await queue.add("save", {"v": 3}, delay=5, deduplication=rule)
    assert len({first.id, second.id, third.id}) == 3
    assert await _waiting(queue) == [third.id]
    assert await queue.get_job(first.id) is None
    assert third.data == {"v": 3}
    assert await queue.get_deduplication_job_id("deb") == third.id


async def test_replace_keeps_an_owner_that_is_not_delayed(queue: Queue) -> None:
    rule = {"id": "rep", "replace": True}
    first = await queue.add("save", {"v": 1}, deduplication=rule)  # waiting, not delayed
    assert (await queue.add("save", {"v": 2}, deduplication=rule)).id == first.id
    assert await _waiting(queue) == [first.id]


async def test_keep_last_if_active_adds_the_last_refused_job_after_the_owner(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    rule = {"id": "kl", "keep_last_if_active": True}
    first = await queue.add("run", {"v": 1}, deduplication=rule)
    # Not active yet: a plain deduplication.
    assert (await queue.add("run", {"v": 2}, deduplication=rule)).id == first.id
    worker = make_worker()
    job = await worker.get_next_job("t", block=False)
    assert job is not None
    assert job.id == first.id
    assert (await queue.add("run", {"v": 3}, deduplication=rule)).id == first.id
    assert (await queue.add("run", {"v": 4}, deduplication=rule)).id == first.id
    assert await _waiting(queue) == []  # kept aside while the owner runs
    await job.move_to_completed(None, "t", fetch_next=False)
    (kept,) = await queue.get_jobs("waiting")
    assert kept.data == {"v": 4}  # only the last one
    assert await queue.get_deduplication_job_id("kl") == kept.id


async def test_reschedule_moves_a_delayed_owner(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    first = await queue.add("r", {}, delay=60, deduplication={"id": "rs", "reschedule": True})
    again = await queue.add("r", {}, delay=5, deduplication={"id": "rs", "reschedule": True})
    assert again.id == first.id
    assert again.delay == 5
    worker = make_worker()
    assert await worker.get_next_job("t", block=False) is None
    await clock.advance(6)  # due at the new delay, long before the first one's 60 s
    got = await worker.get_next_job("t", block=False)
    assert got is not None
    assert got.id == first.id


async def test_remove_deduplication_key_frees_the_id(queue: Queue) -> None:
    first = await queue.add("a", {}, deduplication={"id": "free"})
    assert await queue.remove_deduplication_key("free") is True
    assert await queue.remove_deduplication_key("free") is False
    second = await queue.add("a", {}, deduplication={"id": "free"})
    assert second.id != first.id


async def test_removing_the_owner_frees_the_id(queue: Queue) -> None:
    first = await queue.add("a", {}, deduplication={"id": "gone"})
    assert await queue.remove(first.id)
    assert await queue.get_deduplication_job_id("gone") is None


async def test_add_bulk_deduplicates_per_item(queue: Queue) -> None:
    jobs = await queue.add_bulk(
        [
            {"name": "a", "data": {"n": 1}, "deduplication": {"id": "b1"}},
            {"name": "a", "data": {"n": 2}, "deduplication": {"id": "b1"}},
            {"name": "a", "data": {"n": 3}, "deduplication": {"id": "b2"}},
            {"name": "a", "data": {"n": 4}},
        ]
    )
    assert jobs[0].id == jobs[1].id
    assert jobs[1].data == {"n": 1}
    assert len({jobs[0].id, jobs[2].id, jobs[3].id}) == 3
    assert len(await _waiting(queue)) == 3


async def test_the_deduplicated_event_names_the_kept_job(queue: Queue) -> None:
    from corral import QueueEvents

    first = await queue.add("a", {}, deduplication={"id": "ev"})
    async with QueueEvents(queue.name, url=queue.url) as events:
        await queue.add("a", {}, deduplication={"id": "ev"})
        async for event in events:
            if event.event == "deduplicated":
                assert event.job_id == first.id
                assert event.fields["deduplicationId"] == "ev"
                assert event.fields["deduplicatedJobId"] != first.id
                break


@pytest.mark.parametrize(
    ("rule", "error", "message"),
    [
        ({}, ValueError, "needs an 'id'"),
        ({"id": ""}, ValueError, "needs an 'id'"),
        ({"id": "x", "ttl": 0}, ValueError, "more than 0"),
        ({"id": "x", "ttl": "5"}, TypeError, "number of seconds"),
        ({"id": "x", "extend": True}, ValueError, "needs a ttl"),
        ({"id": "x", "replace": 1}, TypeError, "True or False"),
        ({"id": "x", "debounce": True}, TypeError, "unknown deduplication field"),
        ("x", TypeError, "must be a mapping"),
    ],
)
async def test_bad_deduplication_raises_and_adds_nothing(
    queue: Queue, rule: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        await queue.add("a", {}, deduplication=rule)  # type: ignore[arg-type]
    assert await _waiting(queue) == []


async def test_deduplication_and_parent_cannot_be_combined(queue: Queue) -> None:
    parent = await queue.add("p", {})
    with pytest.raises(ValueError, match="cannot be used together"):
        await queue.add("c", {}, parent=parent, deduplication={"id": "x"})


async def test_reads_of_unknown_deduplication_ids(queue: Queue) -> None:
    assert await queue.get_deduplication_job_id("none") is None
    assert await queue.remove_deduplication_key("none") is False
    with pytest.raises(TypeError, match="must be a string"):
        await queue.get_deduplication_job_id(5)  # type: ignore[arg-type]


async def test_an_expired_ttl_frees_the_id_for_the_next_add(queue: Queue, clock: ApiClock) -> None:
    first = await queue.add("t", {}, deduplication={"id": "exp", "ttl": 1})
    await clock.advance(2)
    second = await queue.add("t", {}, deduplication={"id": "exp", "ttl": 1})
    assert second.id != first.id
    assert await queue.get_deduplication_job_id("exp") == second.id


async def test_debounce_with_keep_last_if_active_takes_over_a_delayed_owner(queue: Queue) -> None:
    rule = {"id": "dk", "ttl": 60, "replace": True, "keep_last_if_active": True}
    first = await queue.add("s", {"v": 1}, delay=60, deduplication=rule)
    second = await queue.add("s", {"v": 2}, delay=60, deduplication=rule)
    assert second.id != first.id
    assert await queue.get_deduplication_job_id("dk") == second.id


async def test_replace_keeps_aside_an_add_that_meets_an_active_owner(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    rule = {"id": "ra", "replace": True, "keep_last_if_active": True}
    first = await queue.add("s", {"v": 1}, deduplication=rule)
    job = await make_worker().get_next_job("t", block=False)
    assert job is not None
    assert (await queue.add("s", {"v": 2}, deduplication=rule)).id == first.id
    await job.move_to_completed(None, "t", fetch_next=False)
    (kept,) = await queue.get_jobs("waiting")
    assert kept.data == {"v": 2}
