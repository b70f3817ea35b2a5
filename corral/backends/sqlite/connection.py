"""One SQLite connection owned by one dedicated thread.

Every database call of a :class:`Database` runs on its own thread, so the
event loop never blocks on disk I/O or on another process's write lock, and the
connection is only ever used by the thread that opened it. An async caller
hops to that thread once per operation: :meth:`Database.write` runs one ``ops``
function atomically in a ``BEGIN IMMEDIATE`` transaction (operations queued
together share one commit, each all-or-nothing), :meth:`Database.read`
in a transaction that sees one consistent state.

Pragmas: WAL (readers never wait for writers, a crash never corrupts the file),
``synchronous=NORMAL`` (durable at checkpoints; fast commits), a 10 s busy
timeout (several worker processes share one file and take turns writing) and
foreign keys on.

**The file under the path.** An open connection keeps working on its file after
the file is deleted or replaced (``rm``, a restore, a re-mount), writing where
nobody will read. So the thread remembers the device and inode the path named
when it opened the file, and after every transaction (before anyone hears its
outcome) checks the path still names that file; from the first time it does
not, every operation fails with :class:`~corral.errors.StoreReplacedError`.

**New files are owner-only.** A database file that does not exist yet is created
with mode 0600 before SQLite opens it, and SQLite gives its ``-wal`` and ``-shm``
files the database file's mode. A file that exists keeps its mode: create it
yourself with the mode you want (e.g. ``install -m 640 /dev/null jobs.db``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from corral.backends.sqlite.sql import Q, migrate
from corral.errors import BackendError, StoreReplacedError

__all__ = ["MEMORY", "Conn", "Database"]

P = ParamSpec("P")
T = TypeVar("T")

MEMORY = ":memory:"
"""The path of the in-process database every ``sqlite://:memory:`` backend shares."""

BUSY_TIMEOUT_MS = 10_000


class Conn:
    """The connection as the ``ops`` functions see it, with the queue-id cache."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.sql = connection
        self._qids: dict[str, int] = {}
        self.woken: set[str] = set()
        """Queues (stored names) an operation gave work to beyond its own (flows)."""
        self._counted: dict[tuple[int, str], int] = {}
        self._metric_runs: dict[tuple[int, str], list[int]] = {}
        """Per (queue id, kind): the run of finished jobs counted in the per-minute
        metrics and not written yet: [minute, max points, first job's now, jobs]."""
        self.shared: dict[int, Any] | None = None
        """While a group commit's operations share their queues' Tx (see
        ``_tx.shared_tx``): those Tx by queue id; None when nothing is shared."""

    def end_sharing(self) -> None:
        """Write what the shared Tx collected and stop sharing them (a later
        operation of the group reads its queue's row afresh)."""
        shared = self.shared
        if shared:
            txs = list(shared.values())
            shared.clear()
            for tx in txs:
                tx.deferred = False
                tx.flush()

    def count_activation(self, qid: int, line: str) -> None:
        """Count a job moved from ``line`` into 'active' (the trigger leaves that
        move to corral, schema 11); written by :meth:`flush_counts`."""
        counted = self._counted
        key = (qid, line)
        counted[key] = counted.get(key, 0) - 1
        key = (qid, "active")
        counted[key] = counted.get(key, 0) + 1

    def count_finished(self, qid: int, kind: str, max_points: int, now: int) -> None:
        """Count a job finished at ``now`` in the queue's per-minute metrics of ``kind``
        (keeping ``max_points`` minutes); written by :meth:`flush_counts`. The jobs of
        one minute in a row are written as one run, exactly as one by one (only a
        run's first job can close a minute: see ``ops_metrics.write_counted``)."""
        key = (qid, kind)
        minute = now // 60_000
        run = self._metric_runs.get(key)
        if run is not None:
            if run[0] == minute and run[1] == max_points:
                run[3] += 1
                return
            self._write_metric_run(key, run)
        self._metric_runs[key] = [minute, max_points, now, 1]

    def _write_metric_run(self, key: tuple[int, str], run: list[int]) -> None:
        from corral.backends.sqlite.ops_metrics import write_counted  # it imports Conn

        write_counted(self.sql, key[0], key[1], run[1], run[2], run[3])

    def flush_counts(self) -> None:
        """Write the counted moves to ``job_counts`` and the counted finishes to the
        metrics: before anything reads them, and before the transaction (or the
        operation's savepoint) ends."""
        if self._metric_runs:
            runs = list(self._metric_runs.items())
            self._metric_runs.clear()
            for key, run in runs:
                self._write_metric_run(key, run)
        if self._counted:
            rows = [(qid, state, n) for (qid, state), n in self._counted.items() if n]
            self._counted.clear()
            if rows:
                self.sql.executemany(Q["counts_add"], rows)

    def discard_counts(self) -> None:
        """Forget counted moves and finishes that were rolled back."""
        self._counted.clear()
        self._metric_runs.clear()
        self.shared = None

    def find_qid(self, queue: str) -> int | None:
        """The id of a queue, or None if it was never used (reads create nothing)."""
        qid = self._qids.get(queue)
        if qid is None:
            row = self.sql.execute(Q["queue_find"], (queue,)).fetchone()
            if row is None:
                return None
            qid = self._qids[queue] = int(row[0])
        return qid

    def rollback(self) -> None:
        """Undo the open transaction; forget queue ids it may have registered."""
        self._counted.clear()
        self._metric_runs.clear()
        self.shared = None
        if self.sql.in_transaction:
            self.sql.execute("ROLLBACK")
        self._qids.clear()

    def forget_queues(self) -> None:
        """Forget cached queue ids (a rolled-back savepoint may have made one)."""
        self._qids.clear()

    def qid(self, queue: str) -> int:
        """The id of a queue, registering it on first use (inside a write)."""
        qid = self.find_qid(queue)
        if qid is None:
            self.sql.execute(Q["queue_create"], (queue,))
            qid = self.find_qid(queue)
            assert qid is not None
        return qid


class _Call:
    """One piece of work for the database thread, and where its result goes."""

    __slots__ = ("args", "fn", "future", "kind", "kwargs", "loop")

    def __init__(
        self,
        kind: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
    ) -> None:
        self.kind = kind
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.loop = loop
        self.future = future


_WRITE, _SHARING, _READ, _PLAIN, _STOP = "write", "sharing", "read", "plain", "stop"
"""Kinds of call. A sharing call is a write whose queue's Tx may be shared with the
sharing calls next to it in its group (see :meth:`Database.write_sharing`)."""

MAX_GROUP = 64
"""The most operations one group commit holds."""


class Database:
    """A lazily opened connection to one database file and its thread.

    **Group commit.** Operations that arrive while the thread is busy wait in
    its queue; the thread then runs up to :data:`MAX_GROUP` of them in one
    ``BEGIN IMMEDIATE … COMMIT``, each all-or-nothing (a refused one rolls back
    alone: see :meth:`_run_group`) while a busy worker
    pays for one commit per group instead of one per job. The group's results go
    back together, one wake-up of each caller's event loop per group: the slots of
    a worker then resume together and send their next operations together, so the
    next group holds them all (one wake-up per result let the first slot's next
    call start a group of its own, and made the thread wait for the GIL per result).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: Conn | None = None
        self._data_version = -1
        self._lock = threading.Lock()
        self._closed = False
        self._file: tuple[int, int] | None = None
        """(device, inode) of the file the connection opened; None in memory."""
        self._replaced: StoreReplacedError | None = None

    # -- running work on the database thread ------------------------------------

    async def write(
        self, fn: Callable[Concatenate[Conn, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn(conn, …)`` atomically in a write (``BEGIN IMMEDIATE``) transaction."""
        return await self._submit(_WRITE, fn, args, kwargs)

    async def write_sharing(
        self, fn: Callable[Concatenate[Conn, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """:meth:`write` for an operation whose queue's Tx may be shared with the
        operations next to it in its group commit (``_tx.shared_tx``: the queue's row
        read once, its counters and events written once, for all of them)."""
        return await self._submit(_SHARING, fn, args, kwargs)

    async def read(
        self, fn: Callable[Concatenate[Conn, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn(conn, …)`` in a read transaction (it sees one consistent state)."""
        return await self._submit(_READ, fn, args, kwargs)

    async def changed_elsewhere(self) -> bool:
        """Whether another connection committed since the last call (``PRAGMA data_version``)."""
        return await self._submit(_PLAIN, self._poll_data_version_on, (), {})

    async def _submit(
        self, kind: str, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> T:
        self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Call(kind, fn, args, kwargs, loop, future))
        return await future

    def _start(self) -> None:
        with self._lock:
            if self._closed:
                raise BackendError(f"the SQLite database {self.path!r} is closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="corral-sqlite", daemon=True
                )
                self._thread.start()

    # -- on the database thread ---------------------------------------------------

    def _serve(self) -> None:
        work = self._queue
        while True:
            first = work.get()
            if first.kind == _STOP:
                self._close_connection()
                _resolve(first, None, None)
                return
            if first.kind == _PLAIN:
                self._run_plain(first)
                continue
            group = [first]
            stop: _Call | None = None
            plain: list[_Call] = []
            while len(group) < MAX_GROUP:
                try:
                    more = work.get_nowait()
                except queue.Empty:
                    break
                if more.kind == _STOP:
                    stop = more
                    break
                if more.kind == _PLAIN:
                    plain.append(more)
                else:
                    group.append(more)
            self._run_group(group)
            for call in plain:
                self._run_plain(call)
            if stop is not None:
                work.put(stop)

    def _run_plain(self, call: _Call) -> None:
        try:
            self._check_file()
            result = call.fn(*call.args, **call.kwargs)
        except BaseException as exc:
            _resolve(call, None, exc)
        else:
            _resolve(call, result, None)

    def _run_group(self, group: list[_Call]) -> None:
        """Run ``group`` in one transaction, each call all-or-nothing.

        A group of several calls first runs without savepoints (two statements per
        call saved): when every call succeeds, as in a busy worker, that is the
        outcome. If one raises, the whole transaction is rolled back and the group
        runs again, each call in its own savepoint, so a refused call is undone
        alone and the others see exactly what they would have seen.
        """
        writes = any(call.kind != _READ for call in group)
        begin = "BEGIN IMMEDIATE" if writes else "BEGIN"
        try:
            self._check_file()
            conn = self._connection()
            conn.sql.execute(begin)
        except StoreReplacedError as replaced:
            for call in group:
                _resolve(call, None, replaced)
            return
        except sqlite3.Error as exc:
            self._fail_all(group, exc)
            return
        if len(group) == 1:
            outcomes = self._run_single(conn, group[0])
        else:
            try:
                outcomes = self._run_plainly(conn, group)
                if outcomes is None:
                    conn.sql.execute(begin)
                    outcomes = self._run_savepoints(conn, group)
            except sqlite3.Error as exc:
                conn.rollback()
                self._fail_all(group, exc)
                return
        if outcomes is None:
            return
        try:
            conn.sql.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.rollback()
            self._fail_all(group, exc)
            return
        try:
            # Committed to the file the connection holds: is it still the one at
            # the path? If not, what was written is lost to whoever opens the path.
            self._check_file()
        except StoreReplacedError as replaced:
            for call in group:
                _resolve(call, None, replaced)
            return
        _resolve_all(group, outcomes)

    def _run_single(self, conn: Conn, call: _Call) -> list[tuple[Any, BaseException | None]] | None:
        """Run one call in the open transaction; on failure roll it back and settle
        the call (None: nothing left to commit)."""
        try:
            result = call.fn(conn, *call.args, **call.kwargs)
            conn.flush_counts()
            return [(result, None)]
        except BaseException as exc:
            error = self._as_backend_error(exc)
            try:
                conn.rollback()
            except sqlite3.Error as undo:
                self._fail_all([call], undo)
                return None
            _resolve(call, None, error)
            return None

    def _run_plainly(
        self, conn: Conn, group: list[_Call]
    ) -> list[tuple[Any, BaseException | None]] | None:
        """Run every call in the open transaction without savepoints; at the first
        failure roll the transaction back and return None (a failed rollback raises).

        Sharing calls share their queues' Tx here (a refused one rolls the whole
        group back, so no call's writes can be undone alone): another call first
        ends the sharing, so it sees their writes."""
        outcomes: list[tuple[Any, BaseException | None]] = []
        conn.shared = {}
        for call in group:
            try:
                if call.kind != _SHARING:
                    conn.end_sharing()
                outcomes.append((call.fn(conn, *call.args, **call.kwargs), None))
            except BaseException:
                conn.rollback()
                return None
        try:
            conn.end_sharing()
            conn.shared = None
            conn.flush_counts()
        except BaseException:
            conn.rollback()
            return None
        return outcomes

    def _run_savepoints(
        self, conn: Conn, group: list[_Call]
    ) -> list[tuple[Any, BaseException | None]] | None:
        """Run every call in the open transaction, each in its own savepoint (None:
        SQLite abandoned the transaction, and every call was failed)."""
        outcomes: list[tuple[Any, BaseException | None]] = []
        for call in group:
            try:
                conn.sql.execute("SAVEPOINT op")
                result = call.fn(conn, *call.args, **call.kwargs)
                conn.flush_counts()
                conn.sql.execute("RELEASE op")
            except BaseException as exc:
                error = self._as_backend_error(exc)
                conn.discard_counts()
                try:
                    conn.sql.execute("ROLLBACK TO op")
                    conn.sql.execute("RELEASE op")
                    conn.forget_queues()
                except sqlite3.Error as undo:
                    # SQLite abandoned the whole transaction: nothing of the group stands.
                    conn.rollback()
                    self._fail_all(group, undo)
                    return None
                outcomes.append((None, error))
                continue
            outcomes.append((result, None))
        return outcomes

    def _as_backend_error(self, exc: BaseException) -> BaseException:
        if isinstance(exc, sqlite3.Error):
            error = BackendError(f"SQLite database {self.path!r}: {exc}")
            error.__cause__ = exc
            return error
        return exc

    def _fail_all(self, group: list[_Call], exc: sqlite3.Error) -> None:
        failure = BackendError(f"SQLite database {self.path!r}: nothing was written: {exc}")
        failure.__cause__ = exc
        for call in group:
            _resolve(call, None, failure)

    def _connection(self) -> Conn:
        if self._conn is None:
            self._conn = Conn(_open(self.path))
            if self.path != MEMORY:
                st = os.stat(self.path)
                self._file = (st.st_dev, st.st_ino)
        return self._conn

    def _check_file(self) -> None:
        """Raise StoreReplacedError if the path no longer names the file the connection
        opened (and for good, once it did not)."""
        if self._replaced is not None:
            raise self._replaced
        if self._file is None:
            return
        try:
            st = os.stat(self.path)
            now = (st.st_dev, st.st_ino)
        except OSError:
            now = None
        if now == self._file:
            return
        self._replaced = StoreReplacedError(
            f"the SQLite database {self.path!r} was deleted or replaced while corral had it "
            "open: the path no longer names the file corral opened, so nothing more is "
            "read from or written to it (the last operation's outcome went with that "
            "file); open the queue again (restart the process) to use the file at the path"
        )
        raise self._replaced

    def _poll_data_version_on(self) -> bool:
        version = int(self._connection().sql.execute("PRAGMA data_version").fetchone()[0])
        changed = self._data_version not in (-1, version)
        self._data_version = version
        return changed

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.sql.close()
            self._conn = None

    # -- closing -------------------------------------------------------------------

    async def close(self) -> None:
        """Finish queued work, close the connection and stop the thread; later calls
        do nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        if thread is None:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.put(_Call(_STOP, _noop, (), {}, loop, future))
        await future


def _noop() -> None:
    return None


def _settle(call: _Call, result: Any, error: BaseException | None) -> None:
    """Set the caller's future (on the caller's event loop)."""
    if call.future.done():
        return  # the caller gave up waiting
    if error is not None:
        call.future.set_exception(error)
    else:
        call.future.set_result(result)


def _resolve(call: _Call, result: Any, error: BaseException | None) -> None:
    """Hand a result back to the caller's event loop (from the database thread)."""
    # A closed loop (RuntimeError) means nobody is waiting any more.
    with contextlib.suppress(RuntimeError):
        call.loop.call_soon_threadsafe(_settle, call, result, error)


def _resolve_all(calls: list[_Call], outcomes: list[tuple[Any, BaseException | None]]) -> None:
    """Hand a group's results back with one wake-up per event loop, not one per call."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Call, Any, BaseException | None]]] = {}
    for call, (result, error) in zip(calls, outcomes, strict=True):
        by_loop.setdefault(call.loop, []).append((call, result, error))
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle_many, settled)


def _settle_many(settled: list[tuple[_Call, Any, BaseException | None]]) -> None:
    for call, result, error in settled:
        _settle(call, result, error)


def _open(path: str) -> sqlite3.Connection:
    """Open, configure and migrate a connection (on the database thread)."""
    if path != MEMORY:
        _create_owner_only(path)
    conn = sqlite3.connect(path, isolation_level=None, cached_statements=512)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if path != MEMORY:
            _ensure_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _create_owner_only(path: str) -> None:
    """Create the database file with mode 0600 if it does not exist yet (SQLite would
    use 0644), so its -wal and -shm, which take its mode, are owner-only too."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError:
        return  # it exists (its mode stands), or SQLite will say what is wrong
    os.close(fd)


def _ensure_wal(conn: sqlite3.Connection) -> None:
    """Put the database in WAL mode. Switching needs a moment alone with the file,
    and SQLite answers "database is locked" at once (without waiting out the busy
    timeout) when other connections are opening it too; so look first, and retry."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            if mode == "wal":
                return
            # A file system without WAL support answers with the old mode: keep it.
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        if time.monotonic() >= deadline:
            raise sqlite3.OperationalError("database is locked: could not switch it to WAL mode")
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
