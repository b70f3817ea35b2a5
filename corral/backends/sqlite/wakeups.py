"""Process-wide wake-ups for ``wait_for_job`` and blocking ``read_events``.

Every backend in the process that writes to a queue nudges every coroutine
waiting on that queue of that database, whichever backend, connection, thread
or event loop it belongs to (``loop.call_soon_threadsafe``). Waiters in *other*
processes learn of changes by polling ``PRAGMA data_version`` instead.

A channel is ``(database key, queue, kind)``: kind ``"jobs"`` for work that may
be fetchable, ``"events"`` for new events.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Channel", "Waiter", "listening", "notify"]

Channel = tuple[str, str, str]

_lock = threading.Lock()
_waiters: dict[Channel, set[Waiter]] = {}


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
