"""Adding jobs: ids, stored fields, custom ids, bulk adds, and input that is refused."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from corral import Backoff, JobState, Queue, RemovePolicy
from corral.job import Job


async def test_add_returns_job_with_sequential_ids_and_stored_fields(queue: Queue) -> None:
    first = await queue.add("test", {"foo": "bar"})
    second = await Job.create(queue, "test", {"foo": "baz"})
    assert (first.id, second.id) == ("1", "2")
    stored = await queue.get_job("1")
    assert stored is not None
    assert stored.name == "test"
    assert stored.data == {"foo": "bar"}
    assert stored.opts.attempts == 0
    assert stored.attempts_made == 0
    assert abs((stored.timestamp - datetime.now(UTC)).total_seconds()) < 60
    assert await queue.get_job_state("2") == JobState.WAITING


async def test_missing_job_reads_as_none_and_unknown(queue: Queue) -> None:
    assert await queue.get_job("nope") is None
    assert await queue.get_job_state("nope") == JobState.UNKNOWN


async def test_options_round_trip(queue: Queue) -> None:
    job = await queue.add(
        "opts",
        [1, 2, 3],
        attempts=3,
        backoff=Backoff("exponential", 2),
        remove_on_complete=10,
        remove_on_fail=RemovePolicy(age=timedelta(hours=1), count=5),
        priority=7,
    )
    stored = await queue.get_job(job.id)
    assert stored is not None
    assert stored.data == [1, 2, 3]
    assert stored.priority == 7
    assert stored.opts.attempts == 3
    assert stored.opts.backoff == Backoff("exponential", 2.0)
    assert stored.opts.remove_on_complete == 10
    assert stored.opts.remove_on_fail == RemovePolicy(age=3600.0, count=5)
    assert await queue.get_job_state(job.id) == JobState.PRIORITIZED


async def test_delayed_job_is_delayed_until_due(queue: Queue) -> None:
    job = await queue.add("later", {}, delay=60)
    assert await queue.get_job_state(job.id) == JobState.DELAYED
    stored = await queue.get_job(job.id)
    assert stored is not None
    assert stored.delay == 60.0


async def test_custom_job_id_is_kept_and_a_duplicate_adds_nothing(queue: Queue) -> None:
    job = await queue.add("test", {"v": 1}, job_id="order-42")
    assert job.id == "order-42"
    again = await queue.add("test", {"v": 2}, job_id="order-42")
    assert again.id == "order-42"
    assert again.data == {"v": 1}
    assert (await queue.get_job_counts("waiting"))["waiting"] == 1


async def test_explicit_timestamp_is_stored(queue: Queue) -> None:
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    job = await queue.add("t", {}, timestamp=when)
    stored = await queue.get_job(job.id)
    assert stored is not None
    assert stored.timestamp == when


async def test_add_bulk_adds_all_in_order(queue: Queue) -> None:
    jobs = await queue.add_bulk(
        [{"name": "a", "data": {"i": i}} for i in range(5)] + [{"name": "p", "priority": 3}]
    )
    assert [j.id for j in jobs] == ["1", "2", "3", "4", "5", "6"]
    counts = await queue.get_job_counts("waiting", "prioritized")
    assert counts == {"waiting": 5, "prioritized": 1}


async def test_add_bulk_with_one_bad_item_writes_nothing(queue: Queue) -> None:
    with pytest.raises(TypeError, match="item 1"):
        await queue.add_bulk([{"name": "ok", "data": {}}, {"name": "bad", "data": {1, 2}}])
    with pytest.raises(ValueError, match=r"item 0.*priority"):
        await queue.add_bulk([{"name": "bad", "priority": -1}])
    assert await queue.get_job_counts("waiting", "prioritized") == {"waiting": 0, "prioritized": 0}


async def test_job_counts_default_to_every_state(queue: Queue) -> None:
    await queue.add("a", {})
    counts = await queue.get_job_counts()
    assert counts == {
        "active": 0, "completed": 0, "delayed": 0, "failed": 0,
        "prioritized": 0, "waiting": 1, "waiting-children": 0,
    }  # fmt: skip
    with pytest.raises(ValueError, match="unknown job state 'bogus'"):
        await queue.get_job_counts("bogus")


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"delay": -1}, ValueError, "delay must be >= 0"),
        ({"delay": math.nan}, ValueError, "delay must be a finite"),
        ({"delay": "5"}, TypeError, "delay must be a number"),
        ({"priority": -1}, ValueError, "priority must be between 0 and 2097151"),
        ({"priority": 2_097_152}, ValueError, "priority must be between 0 and 2097151"),
        ({"priority": 1.5}, TypeError, "priority must be an integer"),
        ({"attempts": -1}, ValueError, "attempts must be >= 0"),
        ({"job_id": "123"}, ValueError, "must not look like an integer"),
        ({"job_id": "-7"}, ValueError, "must not look like an integer"),
        ({"job_id": "a:b"}, ValueError, "must not contain ':'"),
        ({"job_id": ""}, ValueError, "job_id must not be empty"),
        ({"job_id": 5}, TypeError, "job_id must be a string"),
        ({"backoff": "soon"}, TypeError, "backoff must be"),
        ({"backoff": {"type": "fixed", "delay": -1}}, ValueError, "backoff delay"),
        ({"remove_on_complete": -3}, ValueError, "remove_on_complete must be >= 0"),
        ({"timestamp": datetime(2030, 1, 1)}, ValueError, "timezone-aware"),
    ],
)
async def test_bad_options_are_refused_before_anything_is_written(
    queue: Queue, options: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        await queue.add("bad", {}, **options)  # type: ignore[arg-type]
    assert sum((await queue.get_job_counts()).values()) == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({1, 2}, "job data must be JSON-encodable"),
        ({"x": math.nan}, "NaN"),
        ({"when": datetime.now(UTC)}, "job data must be JSON-encodable"),
        (b"bytes", "job data must be JSON-encodable"),
    ],
)
async def test_data_that_json_cannot_encode_is_a_type_error(
    queue: Queue, data: object, message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        await queue.add("bad", data)
    assert (await queue.get_job_counts("waiting"))["waiting"] == 0


async def test_unknown_option_is_a_type_error(queue: Queue) -> None:
    with pytest.raises(TypeError, match="unknown job option"):
        await queue.add_bulk([{"name": "x", "prioritee": 3}])


@pytest.mark.parametrize(
    ("name", "message"), [("", "must not be empty"), ("a:b", "must not contain ':'")]
)
def test_bad_queue_names_are_refused(url: str, name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Queue(name, url=url)


async def test_validation_is_the_same_after_a_valid_look_alike(queue: Queue) -> None:
    await queue.add("ok", {}, priority=1, attempts=1, lifo=False)
    with pytest.raises(TypeError, match="priority must be an integer"):
        await queue.add("bad", {}, priority=True, attempts=1, lifo=False)
    with pytest.raises(TypeError, match="attempts must be an integer"):
        await queue.add("bad", {}, priority=1, attempts=1.0, lifo=False)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="lifo must be True or False"):
        await queue.add("bad", {}, priority=1, attempts=1, lifo=0)  # type: ignore[arg-type]
