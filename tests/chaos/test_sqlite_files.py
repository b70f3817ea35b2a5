"""The SQLite file under an operator's hands: deleted while corral runs, and the
permissions it is created with.

Deleted (``rm corral.db*``, a re-mount, a restore over it): the processes that
had it open still hold the old file, so what they write after that goes nowhere
anyone will read. corral notices that the path no longer names the file it
opened and refuses every operation from then on with
:class:`corral.StoreReplacedError`; a running worker stops with that one line
(so a supervisor restarts it on the new file) instead of never seeing the jobs
new processes add there.

Created: a new database and its ``-wal`` and ``-shm`` files are owner-only
(0600); a file that exists keeps its mode, and SQLite gives its ``-wal`` and
``-shm`` the same.
"""

from __future__ import annotations

import asyncio
import functools
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from corral import Queue, StoreReplacedError, Worker
from tests.chaos.agent import read_records
from tests.chaos.conftest import Agents
from tests.support import wait_until

pytestmark = pytest.mark.timeout(300)


until = functools.partial(wait_until, every=0.05)


def remove_database(path: Path) -> None:
    """What an operator's ``rm corral.db corral.db-wal corral.db-shm`` does."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def test_a_deleted_database_file_refuses_every_operation_and_acknowledges_nothing(
    tmp_path: Path, queue_name: str, agents: Agents, report: list[str]
) -> None:
    path = tmp_path / "jobs.db"
    url = f"sqlite:///{path}"
    producer = agents.spawn(
        "producer", url=url, queue=queue_name, name="old", ids=True, count=100_000, pause=0.002
    )
    worker = agents.spawn_cli_worker(url, queue_name, concurrency=2, lock=5, stalled=1)

    def acked(pid: int) -> list[dict[str, Any]]:
        return [r for r in read_records(agents.records) if r["kind"] == "add" and r["pid"] == pid]

    await until(lambda: len(acked(producer.pid)) >= 200, 60, "200 acknowledged adds")
    remove_database(path)
    removed_at = time.time()
    # The producer goes on adding for a while, to the file it opened.
    await until(
        lambda: (
            any(
                r["kind"] == "add_error" and r["pid"] == producer.pid and r["t"] > removed_at + 2
                for r in read_records(agents.records)
            )
            or len([r for r in acked(producer.pid) if r["started"] > removed_at]) >= 200
        ),
        60,
        "the producer to go on after the removal",
    )
    # A new process creates the database again and adds jobs to it.
    fresh = agents.spawn("producer", url=url, queue=queue_name, name="new", ids=True, count=20)
    assert fresh.proc.wait(timeout=60) == 0, fresh.output()

    lost = [r for r in acked(producer.pid) if r["started"] > removed_at]
    refusals = [
        r for r in read_records(agents.records)
        if r["kind"] == "add_error" and r["pid"] == producer.pid
    ]  # fmt: skip
    # The running worker could never see the new file's jobs: it stops, saying why.
    code = worker.proc.wait(timeout=60) if not lost else worker.stop(timeout=5)
    log = worker.output()
    report.append(
        f"adds acknowledged after the file was deleted: {len(lost)}; "
        f"{len(refusals)} adds refused with {sorted({r['type'] for r in refusals})}; "
        f"the running worker exited with {code}"
    )
    assert not lost, f"{len(lost)} adds were acknowledged into the deleted file"
    assert refusals
    assert {r["type"] for r in refusals} == {"StoreReplacedError"}
    assert "deleted or replaced" in refusals[0]["message"]
    assert code == 1, log
    assert "Traceback" not in log, log
    assert "deleted or replaced" in log.strip().splitlines()[-1], log

    # Restarted, a worker serves the new file.
    async with Queue(queue_name, url=url) as queue:
        assert (await queue.get_job_counts("waiting"))["waiting"] == 20
        restarted = agents.spawn_cli_worker(url, queue_name, concurrency=2, lock=5, stalled=1)
        deadline = time.monotonic() + 60
        while (await queue.get_job_counts("completed"))["completed"] < 20:
            assert time.monotonic() < deadline, await queue.get_job_counts()
            await asyncio.sleep(0.2)
        assert restarted.stop() == 0, restarted.output()


async def test_every_operation_on_a_replaced_file_is_refused_in_process(
    tmp_path: Path, queue_name: str
) -> None:
    path = tmp_path / "jobs.db"
    url = f"sqlite:///{path}"
    async with Queue(queue_name, url=url) as queue:
        await queue.add("before", {})
        worker = Worker(queue_name, url=url, drain_delay=5)
        job = await worker.get_next_job("tok")
        assert job is not None
        waiting = asyncio.create_task(worker.get_next_job("tok-2"))  # blocks: nothing else
        await asyncio.sleep(0.2)
        remove_database(path)
        async with Queue(queue_name, url=url) as other:  # a new file at the same path
            await other.add("after", {})
        # The blocked fetch notices within its next look at the file.
        with pytest.raises(StoreReplacedError):
            await asyncio.wait_for(waiting, 5)
        for operation in (
            lambda: queue.add("lost", {}),
            lambda: queue.get_job_counts(),
            lambda: queue.get_job(job.id),
            lambda: job.move_to_completed("x", "tok", fetch_next=False),
            lambda: job.extend_lock("tok", 10),
            lambda: worker.get_next_job("tok-3", block=False),
            lambda: queue.pause(),
        ):
            with pytest.raises(StoreReplacedError, match="deleted or replaced"):
                await operation()
        await worker.close()
    async with Queue(queue_name, url=url) as reopened:
        assert [j.name for j in await reopened.get_jobs()] == ["after"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_a_new_database_is_owner_only(tmp_path: Path, queue_name: str) -> None:
    old_umask = os.umask(0o022)
    try:
        path = tmp_path / "new.db"
        async with Queue(queue_name, url=f"sqlite:///{path}") as queue:
            await queue.add("x", {})
            modes = {s: _mode(Path(f"{path}{s}")) for s in ("", "-wal", "-shm")}
        assert modes == {"": 0o600, "-wal": 0o600, "-shm": 0o600}, {
            s: oct(m) for s, m in modes.items()
        }
        # An existing file keeps the mode its owner gave it, and so do its -wal and -shm.
        shared = tmp_path / "shared.db"
        shared.touch(mode=0o640)
        shared.chmod(0o640)
        async with Queue(queue_name, url=f"sqlite:///{shared}") as queue:
            await queue.add("x", {})
            modes = {s: _mode(Path(f"{shared}{s}")) for s in ("", "-wal", "-shm")}
        assert modes == {"": 0o640, "-wal": 0o640, "-shm": 0o640}, {
            s: oct(m) for s, m in modes.items()
        }
    finally:
        os.umask(old_umask)
