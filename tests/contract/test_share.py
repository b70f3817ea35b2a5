"""Prefixes and share(prefix): queues under different prefixes never see each other,
whether opened apart or sharing one backend's connections."""

from __future__ import annotations

import uuid

from corral.backends import open_backend
from corral.backends.base import Backend, JobState
from tests.contract.support import Clock, fetch_one, job


def a_prefix() -> str:
    return f"p{uuid.uuid4().hex[:8]}"


async def test_every_backend_is_a_backend(backend: Backend) -> None:
    assert isinstance(backend, Backend)


async def test_backends_opened_with_different_prefixes_keep_their_queues_apart(
    store_url: str, queue: str, clock: Clock
) -> None:
    one, two = (
        open_backend(store_url, prefix=a_prefix()),
        open_backend(store_url, prefix=a_prefix()),
    )
    try:
        await one.add_jobs(queue, [job("one", at=clock.now)])
        assert await two.get_job(queue, "1") is None
        assert await two.add_jobs(queue, [job("two", at=clock.now)]) == ["1"]
        assert (await fetch_one(two, queue, clock)).name == "two"
        assert await one.get_state(queue, "1") is JobState.WAITING
        assert await one.list_queues() == [queue]
    finally:
        await one.close()
        await two.close()


async def test_a_shared_backend_keeps_its_prefix_apart_on_the_same_connections(
    backend: Backend, queue: str, clock: Clock
) -> None:
    shared = backend.share(a_prefix())
    await backend.add_jobs(queue, [job("home", at=clock.now)])
    assert await shared.get_job(queue, "1") is None
    assert await shared.list_queues() == []
    assert await shared.add_jobs(queue, [job("away", at=clock.now)]) == ["1"]
    assert (await fetch_one(shared, queue, clock)).name == "away"
    assert await backend.get_state(queue, "1") is JobState.WAITING
    assert await shared.list_queues() == [queue]
    assert queue in await backend.list_queues()


async def test_closing_a_shared_backend_leaves_the_connections_to_their_owner(
    backend: Backend, queue: str, clock: Clock
) -> None:
    shared = backend.share(a_prefix())
    await shared.add_jobs(queue, [job(at=clock.now)])
    await shared.close()
    await backend.add_jobs(queue, [job(at=clock.now)])
    assert await backend.get_state(queue, "1") is JobState.WAITING


async def test_list_queues_names_the_queues_with_jobs_sorted(
    store_url: str, clock: Clock, queue: str
) -> None:
    mine = open_backend(store_url, prefix=a_prefix())
    try:
        assert await mine.list_queues() == []
        for name in (f"{queue}-b", f"{queue}-a"):
            await mine.add_jobs(name, [job(at=clock.now)])
        await mine.pause(f"{queue}-c")
        assert await mine.list_queues() == [f"{queue}-a", f"{queue}-b", f"{queue}-c"]
    finally:
        await mine.close()


async def test_closing_twice_is_safe(store_url: str, queue: str, clock: Clock) -> None:
    opened = open_backend(store_url)
    await opened.add_jobs(queue, [job(at=clock.now)])
    await opened.close()
    await opened.close()
