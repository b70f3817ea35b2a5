"""Hostile values to the public API and the CLI: each ends in TypeError/ValueError/
CorralError (or a one-line CLI error with status 1/2), and nothing is written."""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta
from typing import Any

import pytest

from corral import CorralError, Queue, RateLimiter, Worker
from corral.cli import main

DOCUMENTED = (TypeError, ValueError, CorralError)

BAD_DATA: list[Any] = [
    math.nan,
    {"x": math.inf},
    {"s": "\ud800"},
    {1: object()},
    b"bytes",
    {"set": {1, 2}},
]
BAD_NAMES: list[Any] = [None, 1, b"n", ["x"]]
BAD_IDS: list[Any] = ["", "a:b", "123", "-7", 5, b"id", None if False else 1.5]
BAD_OPTIONS: list[dict[str, Any]] = [
    {"delay": 1e300},
    {"delay": -0.001},
    {"delay": math.nan},
    {"delay": timedelta.max},
    {"delay": "10"},
    {"priority": -1},
    {"priority": 2**21},
    {"priority": True},
    {"attempts": -1},
    {"attempts": 1.5},
    {"lifo": 1},
    {"backoff": "fast"},
    {"backoff": {"type": "fixed", "delay": math.inf}},
    {"backoff": {"kind": "x"}},
    {"remove_on_complete": -1},
    {"remove_on_fail": "yes"},
    {"timestamp": math.inf},
    {"bogus": 1},
]


def _deep(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


async def test_bad_adds_are_refused_and_write_nothing(url: str, queue_name: str) -> None:
    async with Queue(queue_name, url=url) as queue:
        for data in [*BAD_DATA, _deep(100_000)]:
            with pytest.raises(DOCUMENTED):
                await queue.add("x", data)
        for name in BAD_NAMES:
            with pytest.raises(DOCUMENTED):
                await queue.add(name, {})
        for job_id in BAD_IDS:
            with pytest.raises(DOCUMENTED):
                await queue.add("x", {}, job_id=job_id)
        for options in BAD_OPTIONS:
            with pytest.raises(DOCUMENTED):
                await queue.add("x", {}, **options)
        # One bad item refuses the whole bulk.
        with pytest.raises(DOCUMENTED):
            await queue.add_bulk([{"name": "ok"}, {"name": "bad", "data": math.nan}])
        with pytest.raises(DOCUMENTED):
            await queue.add_bulk([{"name": "ok"}, "not a mapping"])  # type: ignore[list-item]
        with pytest.raises(DOCUMENTED):
            await queue.add_bulk([{"data": {}}])
        counts = await queue.get_job_counts()
        assert sum(counts.values()) == 0
        # Odd but legal values are stored and read back exactly.
        odd = ["  ", "\u00e9\u6f22\U0001f600", "x" * 10_000, "\t\n"]
        for job_id in odd:
            job = await queue.add(job_id, {"k": job_id}, job_id=job_id)
            again = await queue.get_job(job_id)
            assert again is not None
            assert (again.id, again.name, again.data) == (job.id, job_id, {"k": job_id})
        with pytest.raises(DOCUMENTED):
            await queue.get_job(5)  # type: ignore[arg-type]
        assert await queue.get_job("no:such") is None
        for states in (("bogus",), ("unknown",)):
            with pytest.raises(DOCUMENTED):
                await queue.get_job_counts(*states)
        with pytest.raises(DOCUMENTED):
            await queue.get_jobs(start=-1)
        for duration in (0, -1, math.inf, 1e300, "1"):
            with pytest.raises(DOCUMENTED):
                await queue.rate_limit(duration)  # type: ignore[arg-type]


async def test_a_huge_payload_is_stored_or_refused_cleanly(url: str, queue_name: str) -> None:
    async with Queue(queue_name, url=url) as queue:
        payload = {"blob": "x" * (12 * 1024 * 1024)}
        try:
            job = await queue.add("big", payload)
        except CorralError:
            assert sum((await queue.get_job_counts()).values()) == 0
            return
        again = await queue.get_job(job.id)
        assert again is not None
        assert again.data == payload


@pytest.mark.parametrize(
    "options",
    [
        {"lock_duration": 0},
        {"lock_duration": -0.0},
        {"lock_duration": 1e300},
        {"lock_duration": timedelta.max},
        {"lock_duration": math.nan},
        {"stalled_interval": "5"},
        {"drain_delay": -1},
        {"concurrency": 0},
        {"concurrency": 2.5},
        {"max_stalled_count": -1},
        {"limiter": {"max": 1}},
        {"name": 5},
        {"processor": "not callable"},
        {"url": "ftp://x"},
        {"url": 5},
        {"prefix": ""},
    ],
)
def test_bad_worker_options_are_refused(options: dict[str, Any], sqlite_url: str) -> None:
    options.setdefault("url", sqlite_url)
    with pytest.raises(DOCUMENTED):
        Worker("q", options.pop("processor", None), **options)


@pytest.mark.parametrize("name", ["", "a:b", None, 5])
def test_bad_queue_names_are_refused(name: Any, sqlite_url: str) -> None:
    with pytest.raises(DOCUMENTED):
        Queue(name, url=sqlite_url)


def test_bad_rate_limiters_are_refused() -> None:
    for args in ((0, 1), (1, 0), (1.5, 1), (1, math.inf), (True, 1)):
        with pytest.raises(DOCUMENTED):
            RateLimiter(*args)


async def test_bad_job_moves_are_refused(url: str, queue_name: str) -> None:
    async with (
        Queue(queue_name, url=url) as queue,
        Worker(queue_name, url=url, drain_delay=0.1) as worker,
    ):
        await queue.add("x", {})
        job = await worker.get_next_job("tok")
        assert job is not None
        for token in ("", 5):
            with pytest.raises(DOCUMENTED):
                await job.move_to_completed(None, token, fetch_next=False)  # type: ignore[arg-type]
        with pytest.raises(DOCUMENTED):
            await job.move_to_completed(math.nan, "tok", fetch_next=False)
        with pytest.raises(DOCUMENTED):
            await job.move_to_failed("not an exception", "tok")  # type: ignore[arg-type]
        for duration in (0, -0.0, math.inf, 1e300, timedelta.max):
            with pytest.raises(DOCUMENTED):
                await job.extend_lock("tok", duration)
        with pytest.raises(DOCUMENTED):
            await job.update_progress({"p": math.nan})
        with pytest.raises(DOCUMENTED):
            await job.log(b"line")  # type: ignore[arg-type]
        with pytest.raises(DOCUMENTED):
            await job.retry("active")
        # Nothing above changed the job.
        assert await job.get_state() == "active"
        await job.move_to_completed("done", "tok", fetch_next=False)


CLI_CASES: list[list[str]] = [
    ["add", "q", "n", "{not json"],
    ["add", "q", "n", "{}", "--delay", "nan"],
    ["add", "q", "n", "{}", "--delay", "1e300"],
    ["add", "q", "n", "{}", "--delay", "-1"],
    ["add", "q", "n", "{}", "--priority", "99999999"],
    ["add", "q", "n", "{}", "--attempts", "x"],
    ["add", "q", "n", "{}", "--job-id", "a:b"],
    ["add", "q", "n", "{}", "--job-id", "12"],
    ["add", "q", "n", '{"x": NaN}'],
    ["add", "a:b", "n", "{}"],
    ["add", "", "n", "{}"],
    ["jobs", "q", "--limit", "0"],
    ["jobs", "q", "--state", "bogus"],
    ["retry", "q", "nope", ""],
    ["remove", "q", "\U0001f600"],
    ["promote", "q", "x" * 5000],
    ["status", "--queue", "a:b"],
    ["pause", ""],
]


@pytest.mark.parametrize("argv", CLI_CASES)
async def test_odd_cli_arguments_end_in_one_error_line(
    argv: list[str], sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        status = await asyncio.to_thread(main, [*argv, "--url", sqlite_url])
    except SystemExit as exit_:  # argparse's own usage errors
        status = int(exit_.code or 0)
    out, err = capsys.readouterr()
    assert status in (1, 2), (status, out, err)
    assert "Traceback" not in out + err
    assert err.strip(), "an error must say what went wrong"
    async with Queue("q", url=sqlite_url) as queue:
        assert sum((await queue.get_job_counts()).values()) == 0


@pytest.mark.parametrize(
    "url", ["ftp://host", "redis://127.0.0.1:1/0", "sqlite:////nonexistent/dir/x.db"]
)
async def test_an_unusable_store_url_is_one_cli_error_line(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await asyncio.to_thread(main, ["status", "--url", url])
    out, err = capsys.readouterr()
    assert status == 1
    assert "Traceback" not in out + err
    assert err.startswith("corral status: error: ")


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"last_event_id": 5}, TypeError, "last_event_id must be a string"),
        ({"block": 0}, ValueError, "block must be > 0"),
        ({"block": float("nan")}, ValueError, "block must be a finite"),
        ({"batch": 0}, ValueError, "batch must be a whole number >= 1"),
        ({"batch": True}, ValueError, "batch must be a whole number >= 1"),
        ({"prefix": ""}, ValueError, "prefix must be a non-empty string"),
    ],
)
def test_bad_queue_events_arguments_are_refused(
    sqlite_url: str, options: dict[str, object], error: type[Exception], message: str
) -> None:
    from corral import QueueEvents

    with pytest.raises(error, match=message):
        QueueEvents("q", url=sqlite_url, **options)  # type: ignore[arg-type]


async def test_a_bad_event_cursor_is_refused(url: str, queue_name: str) -> None:
    from corral import CorralError, QueueEvents

    async with QueueEvents(queue_name, url=url, last_event_id="not-a-cursor") as events:
        with pytest.raises((ValueError, CorralError)):
            await events.read(block=0.01)
