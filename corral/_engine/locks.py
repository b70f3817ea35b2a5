"""The lock renewer: keeps the locks of every job in hand alive while it runs.

Every ``lock_duration / 2`` it extends the locks of all jobs in ``held`` in one
batched call. A lock that could not be extended (it expired, or another worker
took the job over) is logged and reported on the ``error`` hook with the
refusal's exception; the job's eventual completion is then refused by the store
too, so a stale token never wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from corral import _clock
from corral._engine.hooks import Hooks
from corral.backends.base import Backend
from corral.errors import error_from_code

if TYPE_CHECKING:
    from corral.job import Job

__all__ = ["LockRenewer"]

logger = logging.getLogger("corral.worker")


class LockRenewer:
    """Extends the locks of the jobs in ``held`` (job id -> Job, kept up to date by its owner)."""

    def __init__(
        self,
        *,
        backend: Backend,
        queue: str,
        lock_duration_ms: int,
        held: Mapping[str, Job],
        hooks: Hooks,
    ) -> None:
        self.backend = backend
        self.queue = queue
        self.lock_duration_ms = lock_duration_ms
        self.held = held
        self.hooks = hooks

    async def renew(self) -> None:
        """Extend every held lock once, reporting the ones that could not be extended."""
        locks = [(job_id, job.token) for job_id, job in self.held.items() if job.token]
        if not locks:
            return
        try:
            failed = await self.backend.extend_locks(
                self.queue, locks, self.lock_duration_ms, _clock.now_ms()
            )
        except Exception as error:
            logger.warning("could not renew locks on queue %r: %s", self.queue, error)
            await self.hooks.emit("error", error, None)
            return
        for job_id, code in failed.items():
            job = self.held.get(job_id)
            if job is None:
                continue  # it finished while the call was on its way
            lost = error_from_code(code, job_id=job_id, operation="extend_lock")
            logger.error(
                "job %s on queue %r: its lock was lost while it ran (%s); it may run again "
                "elsewhere, and its result will be refused",
                job_id, self.queue, lost,
            )  # fmt: skip
            await self.hooks.emit("error", lost, job)

    async def run(self, stop: asyncio.Event) -> None:
        """Renew every ``lock_duration / 2`` until ``stop`` is set."""
        interval = self.lock_duration_ms / 2000
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            if stop.is_set():
                return
            await self.renew()
