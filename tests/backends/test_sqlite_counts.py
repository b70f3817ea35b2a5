"""SQLite keeps how many jobs each queue holds in each state in ``job_counts``
(schema 10), so counting a state never scans it. These tests hold the table to a
recount of the jobs themselves: after random sequences of every operation that
moves, adds or removes jobs (refused ones included, which must change nothing),
and after the migration that fills it in a database written before it existed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from corral.backends.base import (
    Completed,
    Failed,
    FetchRequest,
    FlowEntry,
    JobState,
    KeepJobs,
    Limiter,
    NewJob,
    ParentLink,
    ParentPolicy,
    Retry,
)
from corral.backends.sqlite import SQLiteBackend
from corral.backends.sqlite.sql import migrate
from corral.errors import CorralError

QUEUES = ("a", "b")
IDS = tuple(f"x{i}" for i in range(1, 9))
"""Custom ids (never one the queue's counter gives) and ids of no job."""
TOKENS = ("t1", "t2")
FINISHED = (JobState.COMPLETED, JobState.FAILED)
KEEPS = (KeepJobs(), KeepJobs(0), KeepJobs(2), KeepJobs(-1, 50))
POLICIES = tuple(ParentPolicy)

RECOUNT = "SELECT qid, state, count(*) FROM jobs GROUP BY qid, state ORDER BY qid, state"
STORED = "SELECT qid, state, n FROM job_counts WHERE n != 0 ORDER BY qid, state"


def recount(path: Path) -> tuple[list[Any], list[Any]]:
    """The counts the jobs add up to, and the counts the table holds (read apart)."""
    with contextlib.closing(sqlite3.connect(path)) as check:
        return check.execute(RECOUNT).fetchall(), check.execute(STORED).fetchall()


queues = st.sampled_from(QUEUES)
ids = st.sampled_from(IDS)
tokens = st.sampled_from(TOKENS)


class CountsStayExact(RuleBasedStateMachine):
    """Random operations on a real SQLite file; the counts table must always equal a
    recount. Refusals are expected (the job may be anywhere): they must roll back."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = tempfile.TemporaryDirectory(prefix="corral-counts-")
        self.path = Path(self.dir.name) / "counts.db"
        self.backend = SQLiteBackend(f"sqlite:///{self.path}")
        self.now = 1_000_000
        self.loop.run_until_complete(self.backend.list_queues())  # creates the file

    def teardown(self) -> None:
        self.loop.run_until_complete(self.backend.close())
        self.loop.close()
        self.dir.cleanup()

    def call(self, coro: Any) -> Any:
        try:
            return self.loop.run_until_complete(coro)
        except (CorralError, ValueError):
            return None

    def fetch(self, token: str) -> FetchRequest:
        return FetchRequest(token, 1000)

    def _rows(self, columns: str, queue: str, state: str = "%") -> list[Any]:
        """``columns`` of the jobs of ``queue`` in ``state`` (a LIKE pattern), by id."""
        query = (
            f"SELECT {columns} FROM jobs WHERE state LIKE ?2"
            " AND qid = (SELECT qid FROM queues WHERE name = ?1) ORDER BY id"
        )
        with contextlib.closing(sqlite3.connect(self.path)) as check:
            return check.execute(query, (f"bull:{queue}", state)).fetchall()

    def job(self, data: st.DataObject, queue: str) -> str:
        """Mostly a job of ``queue`` (in any state), sometimes any id at all."""
        stored = [row[0] for row in self._rows("id", queue)]
        if stored and data.draw(st.integers(0, 4)) > 0:
            return str(data.draw(st.sampled_from(stored)))
        return data.draw(ids | st.sampled_from(("1", "2", "3")))

    def held(self, data: st.DataObject, queue: str) -> tuple[str, str]:
        """Mostly an active job of ``queue`` (fetched first if none is) and its token,
        sometimes any id and token."""
        active = self._rows("id, token", queue, "active")
        if not active and data.draw(st.booleans()):
            self.call(self.backend.move_to_active(queue, self.fetch(data.draw(tokens)), self.now))
            active = self._rows("id, token", queue, "active")
        if active and data.draw(st.integers(0, 4)) > 0:
            job_id, token = data.draw(st.sampled_from(active))
            return str(job_id), str(token)
        return data.draw(ids), data.draw(tokens)

    # -- adding --------------------------------------------------------------------

    @rule(
        queue=queues,
        jobs=st.lists(
            st.tuples(
                st.none() | ids,
                st.sampled_from((0, 0, 0, 30, 500)),
                st.sampled_from((0, 0, 3)),
                st.booleans(),
                st.none() | st.none() | ids,
            ),
            min_size=1,
            max_size=4,
        ),
    )
    def add(self, queue: str, jobs: list[tuple[str | None, int, int, bool, str | None]]) -> None:
        new = []
        for job_id, delay, priority, lifo, parent in jobs:
            link = (
                None if parent is None else ParentLink(f"bull:{queue}", parent, ParentPolicy.NONE)
            )
            new.append(
                NewJob("j", "{}", "{}", self.now, delay, priority, lifo, job_id, parent=link)
            )
        self.call(self.backend.add_jobs(queue, new))

    @rule(parent=ids, children=st.lists(ids, min_size=1, max_size=3, unique=True),
          policy=st.sampled_from(POLICIES), child_queue=queues)  # fmt: skip
    def add_flow(
        self, parent: str, children: list[str], policy: ParentPolicy, child_queue: str
    ) -> None:
        up = ParentLink("bull:a", parent, policy)
        entries = [FlowEntry("a", NewJob("p", "{}", "{}", self.now, job_id=parent))]
        entries += [
            FlowEntry(child_queue, NewJob("c", "{}", "{}", self.now, job_id=c, parent=up))
            for c in children
            if not (child_queue == "a" and c == parent)
        ]
        self.call(self.backend.add_flow(entries, self.now))

    # -- the worker's moves ----------------------------------------------------------

    @rule(queue=queues, token=tokens, limited=st.booleans())
    def fetch_one(self, queue: str, token: str, limited: bool) -> None:
        request = FetchRequest(token, 1000, Limiter(2, 100) if limited else None)
        self.call(self.backend.move_to_active(queue, request, self.now))

    @rule(data=st.data(), queue=queues, ok=st.booleans(), keep=st.sampled_from(KEEPS),
          then_fetch=st.booleans())  # fmt: skip
    def finish(
        self, data: st.DataObject, queue: str, ok: bool, keep: KeepJobs, then_fetch: bool
    ) -> None:
        job_id, token = self.held(data, queue)
        outcome: Completed | Failed = Completed("1", keep) if ok else Failed("no", keep=keep)
        after = self.fetch(token) if then_fetch else None
        self.call(self.backend.move_to_finished(queue, job_id, token, outcome, self.now, after))

    @rule(data=st.data(), queue=queues,
          move=st.sampled_from(("retry", "retry-later", "wait", "delayed", "children")))  # fmt: skip
    def put_back(self, data: st.DataObject, queue: str, move: str) -> None:
        job_id, token = self.held(data, queue)
        b, now = self.backend, self.now
        if move.startswith("retry"):
            retry = Retry("again", delay_ms=40 if move == "retry-later" else 0)
            self.call(b.retry_job(queue, job_id, token, retry, now, self.fetch(token)))
        elif move == "wait":
            self.call(b.move_to_wait(queue, job_id, token, now))
        elif move == "delayed":
            self.call(b.move_to_delayed(queue, job_id, token, 60, now))
        else:
            self.call(b.move_to_waiting_children(queue, job_id, token, now))

    @rule(ms=st.sampled_from((10, 100, 2000)), queue=queues)
    def time_passes(self, ms: int, queue: str) -> None:
        self.now += ms
        self.call(self.backend.move_stalled_to_wait(queue, 1, 1, self.now))

    # -- changes by hand -------------------------------------------------------------

    @rule(data=st.data(), queue=queues, change=st.sampled_from(
        ("remove", "remove-alone", "promote", "reprocess", "reprocess-reset", "cancel",
         "delay", "undelay", "priority", "lifo")))  # fmt: skip
    def by_hand(self, data: st.DataObject, queue: str, change: str) -> None:
        job_id = self.job(data, queue)
        b, now = self.backend, self.now
        if change.startswith("remove"):
            self.call(b.remove_job(queue, job_id, now, remove_children=change == "remove"))
        elif change == "promote":
            self.call(b.promote(queue, job_id))
        elif change.startswith("reprocess"):
            state = data.draw(st.sampled_from(FINISHED))
            reset = change == "reprocess-reset"
            self.call(b.reprocess_job(queue, job_id, state, reset_attempts=reset))
        elif change == "cancel":
            self.call(b.cancel_job(queue, job_id, "stop", now, data.draw(st.sampled_from(KEEPS))))
        elif change in ("delay", "undelay"):
            self.call(b.change_delay(queue, job_id, 80 if change == "delay" else 0, now))
        else:
            self.call(b.change_priority(queue, job_id, data.draw(st.sampled_from((0, 2))),
                                        change == "lifo"))  # fmt: skip

    # -- queue-wide (rarer: they empty the queue) -------------------------------------

    @rule(queue=queues, sweep=st.sampled_from(("clean", "drain", "retry-all", "obliterate")),
          state=st.sampled_from(tuple(JobState)), limit=st.sampled_from((0, 2)),
          go=st.integers(0, 3))  # fmt: skip
    def queue_wide(self, queue: str, sweep: str, state: JobState, limit: int, go: int) -> None:
        if go:
            return
        b, now = self.backend, self.now
        if sweep == "clean":
            self.call(b.clean(queue, state, now, limit, now))
        elif sweep == "drain":
            self.call(b.drain(queue, limit == 2, 0, now))
        elif sweep == "retry-all":
            self.call(b.move_jobs_to_wait(queue, FINISHED[limit // 2], now, limit))
        else:
            self.call(b.pause(queue))
            self.call(b.obliterate(queue, force=limit == 2))
            self.call(b.resume(queue))

    # -- the check ---------------------------------------------------------------------

    @invariant()
    def counts_match_a_recount(self) -> None:
        counted, stored = recount(self.path)
        assert stored == counted
        with contextlib.closing(sqlite3.connect(self.path)) as check:
            qids = dict(check.execute("SELECT name, qid FROM queues").fetchall())
        for queue in QUEUES:
            qid = qids.get(f"bull:{queue}")
            expected = {JobState(s): 0 for s in JobState}
            expected.update({JobState(s): n for q, s, n in counted if q == qid})
            got = self.loop.run_until_complete(self.backend.get_counts(queue, list(JobState)))
            assert got == expected, queue


CountsStayExact.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_counts_stay_exact_under_random_operations = CountsStayExact.TestCase


def test_the_migration_counts_the_jobs_already_stored(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path, isolation_level=None)
    migrate(old, target=9)
    old.execute("INSERT INTO queues (qid, name) VALUES (1, 'bull:a'), (2, 'bull:b')")
    states = ["waiting"] * 5 + ["active"] * 2 + ["completed"] * 3 + ["delayed"]
    for qid in (1, 2):
        for i, state in enumerate(states[: 11 - 4 * (qid - 1)]):
            old.execute(
                "INSERT INTO jobs (qid, id, name, data, opts, timestamp, state, lane, seq)"
                " VALUES (?, ?, 'n', '{}', '{}', 1, ?, 0, ?)",
                (qid, str(i), state, i),
            )
    expected = old.execute(RECOUNT).fetchall()
    assert migrate(old) == 9
    assert old.execute(STORED).fetchall() == expected
    assert (1, "waiting", 5) in expected
    assert (2, "waiting", 5) in expected
    # And from then on the triggers keep them.
    old.execute("UPDATE jobs SET state = 'failed' WHERE qid = 1 AND state = 'active'")
    old.execute("DELETE FROM jobs WHERE qid = 2 AND state = 'waiting' AND id = '0'")
    assert old.execute(STORED).fetchall() == old.execute(RECOUNT).fetchall()
    old.close()


async def test_get_counts_reads_the_kept_counts(tmp_path: Path) -> None:
    async with SQLiteBackend(f"sqlite:///{tmp_path / 'c.db'}") as backend:
        await backend.add_jobs("q", [NewJob("n", "{}", "{}", 1) for _ in range(3)])
        await backend.move_to_active("q", FetchRequest("t", 1000), 5)
        counts = await backend.get_counts(
            "q", [JobState.WAITING, JobState.ACTIVE, JobState.UNKNOWN]
        )
        assert counts == {JobState.WAITING: 2, JobState.ACTIVE: 1, JobState.UNKNOWN: 0}
        assert await backend.get_counts("never-used", [JobState.WAITING]) == {JobState.WAITING: 0}


async def test_every_page_lists_the_jobs_in_order_from_either_end(tmp_path: Path) -> None:
    # A page past the middle of a state is read from its far end and turned round.
    async with SQLiteBackend(f"sqlite:///{tmp_path / 'p.db'}") as backend:
        jobs = [NewJob("n", "{}", "{}", 1, lifo=i % 5 == 0) for i in range(40)]
        await backend.add_jobs("q", jobs)
        for i in range(15):
            fetched = await backend.move_to_active("q", FetchRequest("t", 1000), 10 + i)
            assert fetched.job is not None
            if i % 3:
                done = Completed("1")
                await backend.move_to_finished("q", fetched.job.id, "t", done, 10 + i // 2)
        for state in (JobState.WAITING, JobState.COMPLETED, JobState.ACTIVE):
            every = [j.id for j in await backend.get_jobs("q", [state], 0, -1)]
            assert len(every) == {JobState.WAITING: 25, JobState.COMPLETED: 10}.get(state, 5)
            for start in range(len(every) + 2):
                for size in (1, 3, 7):
                    page = await backend.get_jobs("q", [state], start, start + size - 1)
                    assert [j.id for j in page] == every[start : start + size], (state, start)
            assert [j.id for j in await backend.get_jobs("q", [state], -3, -1)] == every[-3:]
        both = [JobState.WAITING, JobState.COMPLETED]
        every = [j.id for j in await backend.get_jobs("q", both, 0, -1)]
        assert [j.id for j in await backend.get_jobs("q", both, 20, 29)] == every[20:30]
