"""How a blocked ``wait_for_job`` or ``read_events`` learns that something changed.

Two mechanisms, one for each kind of writer:

* **In this process**, every backend that writes to a queue nudges every
  coroutine waiting on that queue of that database, whichever backend,
  connection, thread or event loop it belongs to (:func:`notify`, through
  ``loop.call_soon_threadsafe``). A channel is ``(database key, queue, kind)``:
  kind ``"jobs"`` for work that may be fetchable, ``"events"`` for new events.
* **In other processes**, a commit changes the WAL file: :class:`CommitWatch`
  reads its ``stat`` every :data:`POLL_INTERVAL` on the event loop (no thread
  hop), backed every :data:`VERSION_INTERVAL` by ``PRAGMA data_version``, the
  exact but costlier test. The in-process ``:memory:`` database has no other
  writers.

A wake-up is only a hint: the waiter looks again in a transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from corral.backends.sqlite.connection import Database

__all__ = [
    "POLL_INTERVAL",
    "VERSION_INTERVAL",
    "Channel",
    "CommitWatch",
    "Signature",
    "Waiter",
    "listening",
    "notify",
]

POLL_INTERVAL = 0.004
"""Seconds between looks at the WAL file's size and time, to notice commits by
other processes while waiting (a ``stat`` on the event loop: no thread hop)."""

VERSION_INTERVAL = 0.05
"""Seconds between ``PRAGMA data_version`` checks, the exact but costlier test
that backs up the file check (two commits in one clock tick can look alike)."""

Channel = tuple[str, str, str]

Signature = tuple[int, int, int]
"""What changes whenever any connection commits: the WAL file's time, size and inode."""

_lock = threading.Lock()
_waiters: dict[Channel, set[Waiter]] = {}


# -- in this process ---------------------------------------------------------------


class Waiter:
    """One waiting coroutine: an event set from any thread through its loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.event = asyncio.Event()

    def wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop has nobody to wake
            self.loop.call_soon_threadsafe(self.event.set)


@contextmanager
def listening(channel: Channel) -> Iterator[Waiter]:
    """Register a waiter on ``channel`` for the duration of the block."""
    waiter = Waiter(asyncio.get_running_loop())
    with _lock:
        _waiters.setdefault(channel, set()).add(waiter)
    try:
        yield waiter
    finally:
        with _lock:
            group = _waiters.get(channel)
            if group is not None:
                group.discard(waiter)
                if not group:
                    del _waiters[channel]


def notify(channel: Channel) -> None:
    """Wake every waiter on ``channel`` (callable from any thread)."""
    if not _waiters:  # the common case in a busy worker: nobody is waiting
        return
    with _lock:
        group = list(_waiters.get(channel, ()))
    for waiter in group:
        waiter.wake()


# -- in other processes ------------------------------------------------------------


class CommitWatch:
    """Notices commits to one database, by this process's waiters' nudges or by
    another process's writes to the file (``path`` None: in-process only)."""

    def __init__(self, db: Database, path: str | None) -> None:
        self._db = db
        self._path = path

    def _signature(self) -> Signature | None:
        if self._path is None:
            return None
        for path in (self._path + "-wal", self._path):
            try:
                st = os.stat(path)
            except OSError:
                continue
            return st.st_mtime_ns, st.st_size, st.st_ino
        return None

    async def baseline(self) -> Signature | None:
        """Mark "now" for :meth:`wait`; take it *before* looking for work, so a
        commit between the look and the wait is not missed."""
        if self._path is None:
            return None
        await self._db.changed_elsewhere()
        return self._signature()

    async def wait(self, waiter: Waiter, until: float, since: Signature | None) -> None:
        """Return when ``waiter`` is woken, when another connection has committed
        since ``since`` (a :meth:`baseline`), or at ``until`` (``time.monotonic``)."""
        next_version_check = time.monotonic() + VERSION_INTERVAL
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return
            try:
                await asyncio.wait_for(waiter.event.wait(), min(left, POLL_INTERVAL))
                return
            except TimeoutError:
                pass
            if self._path is None:
                continue
            if self._signature() != since:
                return
            if time.monotonic() >= next_version_check:
                next_version_check = time.monotonic() + VERSION_INTERVAL
                if await self._db.changed_elsewhere():
                    return
