"""``corral retry --all``, ``clean``, ``drain`` and ``workers``, run as users run them."""

from __future__ import annotations

import asyncio

import pytest

from corral import Queue, Worker
from corral._cli_admin import parse_duration
from tests.conformance.test_global_limits import listed
from tests.test_cli import run


def fail_and_finish(url: str, queue: str, *, fail: int, complete: int) -> None:
    async def go() -> None:
        async with Queue(queue, url=url) as q:
            for i in range(fail + complete):
                await q.add("j", {"i": i})
        async with Worker(queue, url=url) as worker:
            for n in range(fail + complete):
                job = await worker.get_next_job("t", block=False)
                assert job is not None
                if n < fail:
                    await job.move_to_failed(RuntimeError("boom"), "t")
                else:
                    await job.move_to_completed("ok", "t", fetch_next=False)

    asyncio.run(go())


def test_retry_all_clean_and_drain(url: str, queue_name: str) -> None:
    store = ["--url", url]
    fail_and_finish(url, queue_name, fail=2, complete=3)
    retried = run("retry", queue_name, "--all", *store)
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.strip() == f"{queue_name}: 2 failed job(s) retried"
    kept = run("clean", queue_name, "--state", "completed", "--older-than", "1d", *store)
    assert kept.stdout.strip() == f"{queue_name}: 0 completed job(s) removed"
    cleaned = run("clean", queue_name, "--older-than", "0s", "--limit", "2", *store)
    assert cleaned.returncode == 0, cleaned.stderr
    assert cleaned.stdout.strip() == f"{queue_name}: 2 completed job(s) removed"
    drained = run("drain", queue_name, *store)
    assert drained.stdout.strip() == f"{queue_name}: 2 job(s) removed"
    retried = run("retry", queue_name, "--all", "--state", "completed", *store)
    assert retried.stdout.strip() == f"{queue_name}: 1 completed job(s) retried"


def test_workers_lists_the_running_workers(url: str, queue_name: str) -> None:
    store = ["--url", url]
    assert run("workers", queue_name, *store).stdout.strip() == "no workers"

    async def shown() -> str:
        q = Queue(queue_name, url=url)
        await q.add("j", {})
        async with q, Worker(queue_name, url=url, name="cli-w") as worker:
            assert await worker.get_next_job("t", block=False) is not None
            await listed(q, 1)
            result = await asyncio.to_thread(run, "workers", *store)
            assert result.returncode == 0, result.stderr
            return result.stdout

    out = asyncio.run(shown())
    header, *rows = out.splitlines()
    assert header.split()[:3] == ["queue", "name", "host"]
    assert [r.split()[:2] for r in rows] == [[queue_name, "cli-w"]]


def test_bad_maintenance_input_is_one_clear_line(sqlite_url: str) -> None:
    store = ["--url", sqlite_url]
    both = run("retry", "q", "1", "--all", *store)
    assert both.returncode == 2
    assert "job ids or --all" in both.stderr
    neither = run("retry", "q", *store)
    assert neither.returncode == 2
    bad = run("clean", "q", "--older-than", "soon", *store)
    assert bad.returncode == 2
    assert "30s, 5m, 1h, 1d" in bad.stderr
    assert "Traceback" not in bad.stderr
    state = run("retry", "q", "1", "--state", "failed", *store)
    assert state.returncode == 2
    assert "--state goes with --all" in state.stderr


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 30), ("30s", 30), ("5m", 300), ("1h", 3600), ("1d", 86400), ("1.5h", 5400)],
)
def test_durations_take_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
