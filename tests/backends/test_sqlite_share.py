"""SQLiteBackend.share: another prefix on the same database connection, owned by
the backend it was shared from."""

from __future__ import annotations

import asyncio

import pytest

from corral.backends.base import Backend, FetchRequest, JobState, NewJob
from corral.backends.sqlite import SQLiteBackend
from corral.errors import BackendError

T0 = 1_700_000_000_000


def job(name: str = "j") -> NewJob:
    return NewJob(name, "{}", "{}", T0)


@pytest.fixture(params=["file", "memory"])
def url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    return sqlite_url if request.param == "file" else "sqlite://:memory:"


async def test_shared_backends_keep_their_prefixes_apart(url: str) -> None:
    original = SQLiteBackend(url, prefix="one")
    two = original.share("two")
    three = two.share("three")
    try:
        assert isinstance(two, Backend)
        assert two.prefix == "two"
        await original.add_jobs("a", [job("from-one")])
        await two.add_jobs("b", [job("from-two")])
        await three.add_jobs("a", [job("from-three")])
        assert await original.list_queues() == ["a"]
        assert await two.list_queues() == ["b"]
        assert await three.list_queues() == ["a"]
        assert await two.get_job("a", "1") is None
        got = await three.move_to_active("a", FetchRequest("t", 1000), T0)
        assert got.job is not None
        assert got.job.name == "from-three"
        assert await original.get_state("a", "1") is JobState.WAITING
    finally:
        await original.close()


async def test_closing_a_shared_backend_leaves_the_original_working(url: str) -> None:
    original = SQLiteBackend(url)
    shared = original.share("other")
    try:
        await shared.add_jobs("q", [job()])
        await shared.close()
        await shared.close()  # idempotent
        with pytest.raises(BackendError, match="closed"):
            await shared.get_job("q", "1")
        assert await original.add_jobs("q", [job()]) == ["1"]
        again = original.share("other")  # the shared backend's queue is still stored
        assert await again.get_state("q", "1") is JobState.WAITING
    finally:
        await original.close()


async def test_closing_the_original_closes_the_database_for_its_shares(sqlite_url: str) -> None:
    original = SQLiteBackend(sqlite_url)
    shared = original.share("other")
    await shared.add_jobs("q", [job()])
    await original.close()
    with pytest.raises(BackendError, match="closed"):
        await shared.get_job("q", "1")
    with pytest.raises(BackendError, match="closed"):
        original.share("third")
    reopened = SQLiteBackend(sqlite_url, prefix="other")
    try:
        assert await reopened.get_state("q", "1") is JobState.WAITING  # it was committed
    finally:
        await reopened.close()


async def test_a_memory_share_is_the_processs_memory_database(queue_name: str) -> None:
    original = SQLiteBackend("sqlite://:memory:")
    shared = original.share("other")
    elsewhere = SQLiteBackend("sqlite://:memory:", prefix="other")
    try:
        waiter = asyncio.create_task(shared.wait_for_job(queue_name, 10_000))
        await asyncio.sleep(0.05)
        await elsewhere.add_jobs(queue_name, [job("m")])
        # The memory database has no file to watch: only the in-process nudge wakes it.
        assert await asyncio.wait_for(waiter, 5) == 0
        got = await shared.move_to_active(queue_name, FetchRequest("t", 1000), T0)
        assert got.job is not None
        assert got.job.name == "m"
    finally:
        await elsewhere.close()
        await original.close()
