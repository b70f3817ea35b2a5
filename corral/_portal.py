"""The bridge the sync API uses: one event loop on a background thread.

Blocking code (Django views, Flask handlers, scripts) calls :meth:`Portal.call`
with a coroutine; it runs on the portal's loop and the caller waits for its
result. One portal serves the whole process, so every sync object shares one
loop and one thread. Calling it from inside that loop would deadlock, so that
is refused with a clear error instead.

A caller waits in short slices rather than in one uninterruptible wait, so
Ctrl-C (``KeyboardInterrupt``) lands while a call is blocked, e.g. in a
``get_next_job(block=True)``; the interrupted call's coroutine is then cancelled
on the loop, given a moment to unwind, and the interrupt is re-raised.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from corral._event_loop import loop_factory

__all__ = ["Portal", "get_portal"]

T = TypeVar("T")

WAIT_SLICE = 0.1
"""How long (seconds) a blocked caller waits at a time before it lets an interrupt land."""

UNWIND_WAIT = 5.0
"""How long (seconds) an interrupted caller waits for its cancelled coroutine to unwind."""


class Portal:
    """An event loop running on a daemon thread, for calling async code from sync code."""

    def __init__(self) -> None:
        self._loop = loop_factory()()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="corral-sync-loop", daemon=True)
        self._thread.start()
        self._ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._ready.set)
        self._loop.run_forever()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The portal's event loop."""
        return self._loop

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the portal's loop and block until it returns (or raises).

        An exception raised in the waiting thread meanwhile (``KeyboardInterrupt``
        from Ctrl-C) cancels ``coro`` on the loop and is re-raised.
        """
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            coro.close()
            raise RuntimeError(
                "a corral.sync method was called from inside corral's own event loop; "
                "use the async API (corral.Queue, corral.Worker) in async code"
            )
        outcome: concurrent.futures.Future[T] = concurrent.futures.Future()
        # Our own task rather than run_coroutine_threadsafe's: an interrupted caller
        # waits for the task itself to finish unwinding, not just for a cancelled flag.
        started: list[asyncio.Task[T]] = []

        def start() -> None:
            task = self._loop.create_task(coro)
            started.append(task)
            task.add_done_callback(lambda done: _settle(outcome, done))

        def cancel() -> None:
            # Callbacks run in order: start() has run by now if it was queued at all.
            if started:
                started[0].cancel()
            else:  # interrupted before start() was queued: it never runs
                coro.close()
                outcome.cancel()

        try:
            # Inside the try: an interrupt may land in here, once start() is queued.
            self._loop.call_soon_threadsafe(start)
            return _wait(outcome)
        except BaseException:
            if not outcome.done():
                self._loop.call_soon_threadsafe(cancel)
                concurrent.futures.wait((outcome,), timeout=UNWIND_WAIT)
            raise

    def stop(self) -> None:
        """Stop the loop and join the thread (at interpreter exit)."""
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._loop.is_running():
            self._loop.close()


def _wait(outcome: concurrent.futures.Future[T]) -> T:
    while True:
        try:
            return outcome.result(timeout=WAIT_SLICE)
        except TimeoutError:
            if outcome.done():  # the coroutine's own TimeoutError
                return outcome.result()


def _settle(outcome: concurrent.futures.Future[T], task: asyncio.Task[T]) -> None:
    """Hand a finished task's result, error or cancellation to the waiting thread."""
    if task.cancelled():
        outcome.cancel()
    elif (error := task.exception()) is not None:
        outcome.set_exception(error)
    else:
        outcome.set_result(task.result())


_portal: Portal | None = None
_portal_lock = threading.Lock()


def get_portal() -> Portal:
    """The process-wide portal, started on first use."""
    global _portal
    with _portal_lock:
        if _portal is None:
            _portal = Portal()
            atexit.register(_portal.stop)
        return _portal
