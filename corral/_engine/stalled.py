"""The stalled-job check: one loop for ``Worker.run()`` and the manual timer alike.

A job whose worker died keeps its lock until the lock expires; the check (run at
most once per ``stalled_interval`` across every worker of the queue, the store
enforces that) returns such jobs to wait and reports each one on the ``stalled``
hook. A store that cannot be reached is one warning line and an ``error`` hook
call per attempt, never a traceback; the loop goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from corral import _clock
from corral._engine.hooks import Hooks
from corral.backends.base import Backend
from corral.errors import BackendError

__all__ = ["StalledChecker"]

logger = logging.getLogger("corral.worker")


class StalledChecker:
    """Runs the stalled check for one queue and reports what it returned to wait."""

    def __init__(
        self,
        *,
        backend: Backend,
        queue: str,
        max_stalled_count: int,
        stalled_interval_ms: int,
        hooks: Hooks,
    ) -> None:
        self.backend = backend
        self.queue = queue
        self.max_stalled_count = max_stalled_count
        self.stalled_interval_ms = stalled_interval_ms
        self.hooks = hooks

    async def check(self) -> list[str]:
        """Run the check once; report and return the ids returned to wait."""
        ids = await self.backend.move_stalled_to_wait(
            self.queue, self.max_stalled_count, self.stalled_interval_ms, _clock.now_ms()
        )
        for job_id in ids:
            logger.warning(
                "job %s on queue %r stalled and was returned to wait", job_id, self.queue
            )
            await self.hooks.emit("stalled", job_id)
        return ids

    async def check_safely(self) -> None:
        """:meth:`check`, with a failure reported (log line and ``error`` hook) instead of raised."""
        try:
            await self.check()
        except BackendError as error:
            # The store is down or restarting: one clear line, no traceback.
            logger.warning("stalled check failed on queue %r: %s; will retry", self.queue, error)
            await self.hooks.emit("error", error, None)
        except Exception as error:
            logger.exception("stalled check failed on queue %r; will retry", self.queue)
            await self.hooks.emit("error", error, None)

    async def run(self, stop: asyncio.Event, *, first_now: bool = True) -> None:
        """Check (now when ``first_now``, then every ``stalled_interval``) until ``stop`` is set."""
        if first_now and not stop.is_set():
            await self.check_safely()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.stalled_interval_ms / 1000)
            if stop.is_set():
                return
            await self.check_safely()
