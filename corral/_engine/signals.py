"""Shutdown on SIGINT/SIGTERM: the one policy, and the two ways to install it.

The policy: the first signal starts a graceful close (running jobs get the grace
period to finish); every later one closes at once (``grace=0``), leaving the
jobs still in hand to stall back. Each signal is logged in one line.

Where the handler is installed depends on where the event loop runs, because
Python delivers signals to the main thread only:

- :meth:`ShutdownSignals.install_on_loop`: the loop runs in the main thread
  (``await Worker.run(handle_signals=True)``, the CLI); ``loop.add_signal_handler``.
- :meth:`ShutdownSignals.install_in_main_thread`: the loop runs on another
  thread (``corral.sync.Worker.run(handle_signals=True)``, whose loop is the
  portal's); ``signal.signal`` in the main thread hands each signal to the loop.

Either way a signal is counted and acted on in the loop's thread, so both
routes share one counter and one code path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from types import FrameType

__all__ = ["SHUTDOWN_SIGNALS", "ShutdownSignals"]

SHUTDOWN_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)
"""The signals that close a worker."""

# The worker's logger: these lines are about the worker, whichever route installed them.
logger = logging.getLogger("corral.worker")


class ShutdownSignals:
    """Closes something on SIGINT/SIGTERM: gracefully first, at once on a repeat.

    ``close(grace)`` is awaited on the loop: with ``grace`` for the first signal,
    with ``0`` for every later one. Install it with :meth:`install_on_loop` or
    :meth:`install_in_main_thread`; each returns a function that undoes it.
    """

    def __init__(
        self, close: Callable[[float | None], Awaitable[None]], grace: float | None
    ) -> None:
        self._close = close
        self._grace = grace
        self._received = 0
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def received(self) -> int:
        """How many shutdown signals have been acted on."""
        return self._received

    def install_on_loop(self, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        """Handle the signals with ``loop.add_signal_handler``; ``loop`` must run in
        the main thread. Returns a function that removes the handlers."""
        _require_main_thread()
        for sig in SHUTDOWN_SIGNALS:
            loop.add_signal_handler(sig, self._handle, loop, sig)

        def remove() -> None:
            for sig in SHUTDOWN_SIGNALS:
                loop.remove_signal_handler(sig)

        return remove

    def install_in_main_thread(self, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        """Handle the signals with ``signal.signal`` (call this from the main thread)
        and act on them on ``loop``, which runs on another thread. Returns a function
        that restores the previous handlers."""
        _require_main_thread()

        def forward(signum: int, frame: FrameType | None) -> None:
            # A loop already closed has nothing left to close.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._handle, loop, signum)

        previous = {sig: signal.signal(sig, forward) for sig in SHUTDOWN_SIGNALS}

        def restore() -> None:
            for sig, old in previous.items():
                # None: the handler was not set from Python; the default is the best guess.
                signal.signal(sig, signal.SIG_DFL if old is None else old)

        return restore

    async def wait_closed(self) -> None:
        """Wait until every close a signal started has finished."""
        while self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def _handle(self, loop: asyncio.AbstractEventLoop, signum: int) -> None:
        """Act on one signal; runs in ``loop``'s thread."""
        self._received += 1
        if self._received == 1:
            logger.info(
                "%s received: finishing running jobs (send it again to stop now)",
                signal.Signals(signum).name,
            )
            grace = self._grace
        else:
            logger.warning("second signal: stopping now; unfinished jobs will stall back")
            grace = 0
        task = loop.create_task(self._run_close(grace), name="corral-signal-close")
        self._closing.add(task)
        task.add_done_callback(self._closed)

    async def _run_close(self, grace: float | None) -> None:
        await self._close(grace)

    def _closed(self, task: asyncio.Task[None]) -> None:
        self._closing.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("closing after a signal failed: %r", error, exc_info=error)


def _require_main_thread() -> None:
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError(
            "handle_signals=True needs run() to be called from the main thread (Python "
            "delivers signals there only); elsewhere pass handle_signals=False and call "
            "close() yourself"
        )
