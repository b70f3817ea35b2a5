"""The bridge the sync API uses: one event loop on a background thread.

Blocking code (Django views, Flask handlers, scripts) calls :meth:`Portal.call`
with a coroutine; it runs on the portal's loop and the caller waits for its
result. One portal serves the whole process, so every sync object shares one
loop and one thread. Calling it from inside that loop would deadlock, so that
is refused with a clear error instead.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["Portal", "get_portal"]

T = TypeVar("T")


class Portal:
    """An event loop running on a daemon thread, for calling async code from sync code."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
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
        """Run ``coro`` on the portal's loop and block until it returns (or raises)."""
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
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def stop(self) -> None:
        """Stop the loop and join the thread (at interpreter exit)."""
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._loop.is_running():
            self._loop.close()


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
