"""Names that collide with a queue's own keys: job ids such as ``meta`` or ``wait``,
and prefixes whose keys could overlap another prefix's queue.

On Redis a job's hash is ``<prefix>:<queue>:<id>``, the same place as the queue's
own keys (``…:meta``, ``…:wait``); such an id is refused at add on every backend, so
a queue behaves the same everywhere, and no read or removal ever treats a queue
key as a job (a Node producer does not refuse them). A prefix may not hold ``:``:
``p:a`` + queue ``b`` and ``p`` + queue ``a`` would share keys.
"""

from __future__ import annotations

import re
from importlib import resources

import pytest
from redis.asyncio import Redis

from corral import Connection, JobState, Queue, QueueEvents, Worker
from corral.backends import open_backend
from corral.backends.keyspace import RESERVED_JOB_IDS
from corral.backends.redis.keys import QueueKeys

_KEY_LINE = re.compile(r"^\s*KEYS\[\d+\]\s+(\S+)", re.MULTILINE)
_LITERAL_SEGMENT = re.compile(r'(?:base|prefix)\s*\.\.\s*"([a-z-]+)')
_LEFTOVERS = re.compile(r"local leftovers = \{([^}]*)\}", re.DOTALL)


def layout_names() -> set[str]:
    """Every first segment of a queue key the Lua scripts name: their ``KEYS``
    headers, the keys they build from the base, and what obliterate deletes."""
    names: set[str] = set()
    folder = resources.files("corral.backends.redis").joinpath("lua")
    sources = [p.read_text() for p in folder.iterdir() if p.name.endswith(".lua")]
    sources += [p.read_text() for p in folder.joinpath("includes").iterdir()]
    for source in sources:
        names |= set(_KEY_LINE.findall(source[: source.find("]]")]))
        names |= set(_LITERAL_SEGMENT.findall(source))
        for block in _LEFTOVERS.findall(source):
            names |= {s.split(":")[0] for s in re.findall(r'"([^"]+)"', block)}
    names.discard("base")  # KEYS[1] base: the base key itself, not a suffix
    # KEYS[i] job, job:<suffix>: keys of the job the call names, not queue keys.
    # A key named after what the caller names (`repeat:<id>`) stands under its
    # first segment, the queue key it extends.
    return {
        n.split(":")[0] if "<" in n else n for n in names if n != "job" and not n.startswith("job:")
    }


def test_every_key_the_scripts_name_is_a_reserved_job_id() -> None:
    names = layout_names()
    assert {"meta", "wait", "active", "events", "id", "marker", "limiter", "stalled"} <= names
    assert names <= RESERVED_JOB_IDS, sorted(names - RESERVED_JOB_IDS)


async def test_a_job_id_naming_a_queue_key_is_refused_and_breaks_nothing(
    url: str, queue_name: str, report: list[str]
) -> None:
    names = sorted(layout_names() | RESERVED_JOB_IDS)
    accepted: list[str] = []
    broke: list[str] = []
    messages: list[str] = []
    for index, job_id in enumerate(names):
        async with Queue(f"{queue_name}-{index}", url=url) as queue:
            await queue.add("before", {"n": 1})
            await queue.pause()
            try:
                await queue.add("hostile", {}, job_id=job_id)
            except ValueError as refused:
                messages.append(str(refused))
            except Exception as error:  # the add itself hit a queue key
                accepted.append(job_id)
                broke.append(f"{job_id} ({type(error).__name__})")
                continue
            else:
                accepted.append(job_id)
            try:
                # Nothing of the queue is a job, and nothing of it may be removed as one.
                stored = await queue.get_job(job_id)
                assert stored is None or (job_id in accepted and stored.name == "hostile")
                if job_id not in accepted:
                    assert await queue.get_job_state(job_id) is JobState.UNKNOWN
                assert await queue.remove(job_id) is (job_id in accepted)
                assert await queue.is_paused()
                await queue.resume()
                worker = Worker(queue.name, url=url, drain_delay=0.1)
                try:
                    job = await worker.get_next_job("tok")
                    assert job is not None
                    assert job.name == "before"
                    await job.move_to_completed("ok", "tok", fetch_next=False)
                finally:
                    await worker.close()
                counts = await queue.get_job_counts()
                assert counts["completed"] == 1
            except Exception as error:
                broke.append(f"{job_id} ({type(error).__name__})")
    report.append(
        f"{len(names)} layout names tried as job ids: {len(accepted)} accepted, "
        f"{len(broke)} left the queue damaged or unusable {broke}"
    )
    assert not accepted, accepted
    assert not broke, broke
    for job_id, message in zip(names, messages, strict=True):
        # A name with a ':' (metrics:completed) is refused by the ':' rule first.
        expected = "must not contain ':'" if ":" in job_id else f"{job_id!r} is reserved"
        assert expected in message, message


async def test_no_read_treats_a_queue_key_as_a_job_that_a_node_producer_listed(
    redis_url: str, queue_name: str, raw: Redis
) -> None:
    # Node BullMQ refuses no id: a Node producer can put "meta" into the wait list.
    keys = QueueKeys("bull", queue_name)
    async with Queue(queue_name, url=redis_url) as queue:
        await queue.add("real", {})
        await queue.pause()
        for job_id in ("meta", "events", "id"):
            await raw.lpush(keys.key("wait"), job_id)
        listed = await queue.get_jobs("waiting")
        assert [job.name for job in listed] == ["real"]
        for job_id in ("meta", "events", "id", "wait"):
            assert await queue.get_job(job_id) is None
            assert await queue.get_job_state(job_id) is JobState.UNKNOWN
            assert await queue.get_job_logs(job_id) == []
            assert await queue.remove(job_id) is False
        assert await queue.is_paused()
        assert await raw.type(keys.key("meta")) == "hash"
        assert await raw.hget(keys.key("meta"), "paused") == "1"


@pytest.mark.parametrize("prefix", ["p:a", "bull:", ":x", "a b", "tab\t", "nl\n", "é", ""])
def test_a_prefix_that_keys_or_client_names_cannot_hold_is_refused_at_construction(
    url: str, prefix: str
) -> None:
    for make in (
        lambda: Queue("q", url=url, prefix=prefix),
        lambda: Worker("q", url=url, prefix=prefix),
        lambda: QueueEvents("q", url=url, prefix=prefix),
        lambda: open_backend(url, prefix=prefix),
    ):
        with pytest.raises(ValueError, match="prefix"):
            make()


async def test_prefixes_without_a_colon_keep_their_queues_apart(url: str) -> None:
    # "p:a" + "b" and "p" + "a" would overlap; "p-a" + "b" and "p" + "a" cannot.
    async with Connection(url) as conn:
        outer = Queue("a", connection=conn, prefix="p")
        inner = Queue("b", connection=conn, prefix="p-a")
        await outer.add("outer", {})
        await inner.add("inner", {})
        await inner.pause()
        await inner.obliterate(force=True)
        assert [j.name for j in await outer.get_jobs("waiting")] == ["outer"]
        assert await outer.backend.list_queues() == ["a"]


async def test_a_blocking_fetch_works_under_every_valid_prefix_and_worker_name(
    url: str, queue_name: str
) -> None:
    # Redis names the blocking connection after the prefix; the worker name
    # (recorded on each job) is free text and never goes into a client name.
    async with Queue(queue_name, url=url, prefix="{app}-v1.2_x") as queue:
        await queue.add("x", {})
        worker = Worker(
            queue_name, url=url, prefix="{app}-v1.2_x", name="night shift #2 ü", drain_delay=0.2
        )
        try:
            job = await worker.get_next_job("tok")
            assert job is not None
            assert job.processed_by == "night shift #2 ü"
            assert await worker.get_next_job("tok") is None  # blocks on the marker, then times out
        finally:
            await worker.close()
