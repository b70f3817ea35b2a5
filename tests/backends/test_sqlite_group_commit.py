"""Operations queued together share one commit, yet each stays all-or-nothing."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from corral._clock import now_ms
from corral.backends.base import Completed, FetchRequest, JobState, MetricsPage, NewJob, Retry
from corral.backends.sqlite import SQLiteBackend
from corral.errors import BackendError, LockMismatchError


async def test_a_refusal_in_a_group_changes_nothing_and_spares_the_others(
    sqlite_url: str, queue_name: str
) -> None:
    backend = SQLiteBackend(sqlite_url)
    try:
        now = now_ms()
        jobs = [NewJob(name=f"j{i}", data="{}", opts="{}", timestamp_ms=now) for i in range(40)]
        await backend.add_jobs(queue_name, jobs)
        fetched = await asyncio.gather(
            *(
                backend.move_to_active(queue_name, FetchRequest(f"t{i}", 60_000), now)
                for i in range(40)
            )
        )
        held = [(f.job.id, f"t{i}") for i, f in enumerate(fetched) if f.job is not None]
        assert len({job_id for job_id, _ in held}) == 40  # no job handed out twice
        # Every other completion uses a wrong token; all are queued at once.
        results = await asyncio.gather(
            *(
                backend.move_to_finished(
                    queue_name,
                    job_id,
                    token if n % 2 == 0 else "intruder",
                    Completed('"ok"'),
                    now,
                )
                for n, (job_id, token) in enumerate(held)
            ),
            return_exceptions=True,
        )
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(refused) == 20
        assert all(isinstance(r, LockMismatchError) for r in refused)
        counts = await backend.get_counts(queue_name, [JobState.ACTIVE, JobState.COMPLETED])
        assert counts == {JobState.ACTIVE: 20, JobState.COMPLETED: 20}
        for n, (job_id, _) in enumerate(held):
            record = await backend.get_job(queue_name, job_id)
            assert record is not None
            assert record.attempts_made == (1 if n % 2 == 0 else 0)
    finally:
        await backend.close()


async def test_closing_finishes_queued_work_first(sqlite_url: str, queue_name: str) -> None:
    backend = SQLiteBackend(sqlite_url)
    now = now_ms()
    adds = [
        asyncio.ensure_future(
            backend.add_jobs(queue_name, [NewJob(name="x", data="{}", opts="{}", timestamp_ms=now)])
        )
        for _ in range(10)
    ]
    await asyncio.sleep(0)
    await backend.close()
    ids = [int((await add)[0]) for add in adds]
    assert sorted(ids) == list(range(1, 11))
    reopened = SQLiteBackend(sqlite_url)
    try:
        counts = await reopened.get_counts(queue_name, [JobState.WAITING])
        assert counts[JobState.WAITING] == 10
    finally:
        await reopened.close()
    with pytest.raises(BackendError, match="closed"):
        await backend.get_counts(queue_name, [JobState.WAITING])


async def test_counts_stay_true_when_a_group_runs_again_after_a_refusal(
    sqlite_url: str, queue_name: str
) -> None:
    # A group first runs without savepoints; a refusal in it rolls the whole group
    # back and runs it again, one savepoint per call. The fetches' counted moves
    # into 'active' are written once, from the run that stands.
    backend = SQLiteBackend(sqlite_url)
    try:
        now = now_ms()
        jobs = [NewJob(name=f"j{i}", data="{}", opts="{}", timestamp_ms=now) for i in range(30)]
        await backend.add_jobs(queue_name, jobs)
        first = await backend.move_to_active(queue_name, FetchRequest("t0", 60_000), now)
        assert first.job is not None
        calls = [
            backend.move_to_active(queue_name, FetchRequest(f"t{i}", 60_000), now)
            for i in range(1, 11)
        ]
        refused = backend.move_to_finished(
            queue_name, first.job.id, "intruder", Completed('"ok"'), now
        )
        more = [
            backend.move_to_active(queue_name, FetchRequest(f"u{i}", 60_000), now)
            for i in range(10)
        ]
        results = await asyncio.gather(*calls, refused, *more, return_exceptions=True)
        assert isinstance(results[10], LockMismatchError)
        assert all(not isinstance(r, BaseException) for n, r in enumerate(results) if n != 10)
        counts = await backend.get_counts(queue_name, [JobState.ACTIVE, JobState.WAITING])
        assert counts == {JobState.ACTIVE: 21, JobState.WAITING: 9}
    finally:
        await backend.close()
    path = sqlite_url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path)) as check:
        recount = check.execute(
            "SELECT state, count(*) FROM jobs GROUP BY state ORDER BY state"
        ).fetchall()
        stored = check.execute(
            "SELECT state, n FROM job_counts WHERE n != 0 ORDER BY state"
        ).fetchall()
    assert recount == stored == [("active", 21), ("waiting", 9)]


async def test_lines_keep_their_order_across_reserved_positions(
    sqlite_url: str, queue_name: str
) -> None:
    # A fetch or finish takes a block of line positions when it reads its queue;
    # adds, LIFO adds and retries between them still land where the line says.
    backend = SQLiteBackend(sqlite_url)
    try:
        now = now_ms()

        def job(name: str, *, lifo: bool = False) -> NewJob:
            return NewJob(name=name, data="{}", opts="{}", timestamp_ms=now, lifo=lifo)

        await backend.add_jobs(queue_name, [job("a"), job("b")])
        first = await backend.move_to_active(queue_name, FetchRequest("t", 60_000), now)
        assert first.job is not None
        assert first.job.name == "a"
        await backend.add_jobs(queue_name, [job("c")])
        await backend.add_jobs(queue_name, [job("front", lifo=True)])
        nxt = await backend.move_to_finished(
            queue_name, first.job.id, "t", Completed("null"), now, FetchRequest("t", 60_000)
        )
        assert nxt is not None
        assert nxt.job is not None
        assert nxt.job.name == "front"
        await backend.retry_job(queue_name, nxt.job.id, "t", Retry("again", "[]"), now)
        await backend.add_jobs(queue_name, [job("d")])
        names = []
        for n in range(4):
            fetched = await backend.move_to_active(queue_name, FetchRequest(f"u{n}", 60_000), now)
            assert fetched.job is not None
            names.append(fetched.job.name)
        assert names == ["front", "b", "c", "d"]  # a LIFO job is retried at the front
        active = await backend.get_jobs(queue_name, [JobState.ACTIVE], 0, -1)
        assert [record.name for record in active] == ["d", "c", "b", "front"]
    finally:
        await backend.close()


async def test_metrics_count_each_standing_finish_once_and_reads_in_the_group_see_them(
    sqlite_url: str, queue_name: str
) -> None:
    """Finishes queued together are counted in the per-minute metrics once per
    finish that stands, also when a refusal in the group makes it run again one
    savepoint per call; a metrics read queued behind them sees them."""
    backend = SQLiteBackend(sqlite_url)
    try:
        now = now_ms()
        jobs = [NewJob(name=f"j{i}", data="{}", opts="{}", timestamp_ms=now) for i in range(12)]
        await backend.add_jobs(queue_name, jobs)
        held = []
        for i in range(12):
            fetched = await backend.move_to_active(queue_name, FetchRequest(f"t{i}", 60_000), now)
            assert fetched.job is not None
            held.append((fetched.job.id, f"t{i}"))
        counted = Completed('"ok"', metrics_max_points=10)

        async def finish_all(pairs: list[tuple[str, str]]) -> list[object]:
            return await asyncio.gather(
                *(backend.move_to_finished(queue_name, i, t, counted, now) for i, t in pairs),
                backend.get_metrics(queue_name, "completed", 0, -1),
                return_exceptions=True,
            )

        # All stand: the group runs once, without savepoints; the read comes last.
        first = await finish_all(held[:6])
        assert isinstance(first[-1], MetricsPage)
        assert first[-1].count == 6
        # One refused: the group runs again, one savepoint per call.
        second = await finish_all([*held[6:8], (held[8][0], "intruder"), *held[9:]])
        assert isinstance(second[2], LockMismatchError)
        assert isinstance(second[-1], MetricsPage)
        assert second[-1].count == 11
        assert (await backend.get_metrics(queue_name, "completed", 0, -1)).count == 11
    finally:
        await backend.close()


async def _shared_group_script(
    backend: SQLiteBackend, a: str, b: str, now: int, *, together: bool
) -> list[object]:
    """Finishes and fetches on two queues with a pause and an add between them:
    queued in one group (``together``) or awaited one by one. Returns what each
    call gave, with the tokens' job ids in place of the jobs."""
    for queue in (a, b):
        await backend.add_jobs(
            queue,
            [NewJob(name=f"j{i}", data="{}", opts="{}", timestamp_ms=now) for i in range(8)],
        )
    held = {}
    for queue in (a, b):
        for n in range(3):
            fetched = await backend.move_to_active(queue, FetchRequest(f"{queue}{n}", 60_000), now)
            assert fetched.job is not None
            held[f"{queue}{n}"] = fetched.job.id

    def finish(queue: str, n: int) -> Any:
        token = f"{queue}{n}"
        nxt = FetchRequest(f"{token}-next", 60_000)
        return backend.move_to_finished(queue, held[token], token, Completed(f'"{n}"'), now, nxt)

    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: finish(a, 0),
        lambda: finish(b, 0),
        lambda: finish(a, 1),
        lambda: backend.pause(a),
        lambda: finish(a, 2),  # paused: completes, fetches nothing
        lambda: backend.move_to_active(b, FetchRequest("b-extra", 60_000), now),
        lambda: backend.add_jobs(
            b, [NewJob(name="late", data="{}", opts="{}", timestamp_ms=now, lifo=True)]
        ),
        lambda: finish(b, 1),  # takes the job just added to the front
        lambda: backend.get_counts(a, [JobState.ACTIVE, JobState.COMPLETED]),
    ]
    if together:
        results = await asyncio.gather(*(call() for call in calls))
    else:
        results = [await call() for call in calls]
    return [
        getattr(getattr(r, "job", None), "id", None) if hasattr(r, "job") else r for r in results
    ]


async def test_operations_sharing_a_queue_row_in_a_group_leave_what_one_by_one_would(
    sqlite_url: str, queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fetches and finishes in one group share each queue's row, line counters and
    # events; any other call (a pause, an add, a read) sees what they wrote.
    from corral.backends.sqlite import connection

    sizes: list[int] = []
    run_group = connection.Database._run_group

    def recording(self: connection.Database, group: list[Any]) -> None:
        sizes.append(len(group))
        run_group(self, group)

    backend = SQLiteBackend(sqlite_url)
    try:
        now = now_ms()
        alone = await _shared_group_script(
            backend, f"{queue_name}-a1", f"{queue_name}-b1", now, together=False
        )
        monkeypatch.setattr(connection.Database, "_run_group", recording)
        together = await _shared_group_script(
            backend, f"{queue_name}-a2", f"{queue_name}-b2", now, together=True
        )
        assert max(sizes) >= 5  # the calls did run as a group
        assert together == alone
        for n in (1, 2):
            a, b = f"{queue_name}-a{n}", f"{queue_name}-b{n}"
            lines = [
                [(j.id, j.name) for j in await backend.get_jobs(q, [s])]
                for q in (a, b)
                for s in (JobState.WAITING, JobState.ACTIVE, JobState.COMPLETED)
            ]
            events = [
                [
                    (e.name, e.fields.get("jobId"))
                    for e in await backend.read_events(q, "0", count=500)
                ]
                for q in (a, b)
            ]
            if n == 1:
                expected = (lines, events)
            else:
                assert (lines, events) == expected
    finally:
        await backend.close()
