"""One SQLite connection owned by one dedicated thread.

Every database call of a :class:`Database` runs on its own single-worker
executor thread, so the event loop never blocks on disk I/O or on another
process's write lock, and the connection is only ever used by the thread that
opened it. An async caller hops to that thread once per operation:
:meth:`Database.write` runs one ``ops`` function inside ``BEGIN IMMEDIATE …
COMMIT`` (``ROLLBACK`` on any error), :meth:`Database.read` inside a deferred
transaction that never takes the write lock.

Pragmas: WAL (readers never wait for writers, a crash never corrupts the file),
``synchronous=NORMAL`` (durable at checkpoints; fast commits), a 10 s busy
timeout (several worker processes share one file and take turns writing) and
foreign keys on.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Concatenate, ParamSpec, TypeVar

from corral.backends.sqlite.sql import Q, migrate
from corral.errors import BackendError

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
        if self.sql.in_transaction:
            self.sql.execute("ROLLBACK")
        self._qids.clear()

    def qid(self, queue: str) -> int:
        """The id of a queue, registering it on first use (inside a write)."""
        qid = self.find_qid(queue)
        if qid is None:
            self.sql.execute(Q["queue_create"], (queue,))
            qid = self.find_qid(queue)
            assert qid is not None
        return qid


class Database:
    """A lazily opened connection to one database file and its thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._executor: ThreadPoolExecutor | None = None
        self._conn: Conn | None = None
        self._data_version = -1
        self._lock = threading.Lock()
        self._closed = False

    # -- running work on the database thread ------------------------------------

    async def write(
        self, fn: Callable[Concatenate[Conn, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn(conn, …)`` in one ``BEGIN IMMEDIATE`` transaction on the DB thread."""
        return await self._submit(self._transaction, "BEGIN IMMEDIATE", fn, *args, **kwargs)

    async def read(
        self, fn: Callable[Concatenate[Conn, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn(conn, …)`` in one read-only (deferred) transaction on the DB thread."""
        return await self._submit(self._transaction, "BEGIN", fn, *args, **kwargs)

    async def changed_elsewhere(self) -> bool:
        """Whether another connection committed since the last call (``PRAGMA data_version``)."""
        return await self._submit(self._poll_data_version)

    async def _submit(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        executor = self._start()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, functools.partial(fn, *args, **kwargs))

    def _start(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._closed:
                raise BackendError(f"the SQLite database {self.path!r} is closed")
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="corral-sqlite"
                )
            return self._executor

    # -- on the database thread ---------------------------------------------------

    def _connection(self) -> Conn:
        if self._conn is None:
            self._conn = Conn(_open(self.path))
        return self._conn

    def _transaction(self, begin: str, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        try:
            conn = self._connection()
            conn.sql.execute(begin)
        except sqlite3.Error as exc:
            raise BackendError(f"SQLite database {self.path!r}: {exc}") from exc
        try:
            result = fn(conn, *args, **kwargs)
            conn.sql.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.rollback()
            raise BackendError(f"SQLite database {self.path!r}: {exc}") from exc
        except BaseException:
            conn.rollback()
            raise
        return result

    def _poll_data_version(self) -> bool:
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
        """Close the connection and stop the thread; later calls do nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is None:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(executor, self._close_connection)
        finally:
            executor.shutdown(wait=False)


def _open(path: str) -> sqlite3.Connection:
    """Open, configure and migrate a connection (on the database thread)."""
    conn = sqlite3.connect(path, isolation_level=None, cached_statements=512)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if path != MEMORY:
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn
