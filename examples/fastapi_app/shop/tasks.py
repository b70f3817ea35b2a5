"""The jobs of the shop, run by the worker: ``corral worker shop.tasks:process --queue shop``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from corral import Job, UnrecoverableError

QUEUE = "shop"


async def send_receipt(job: Job) -> dict[str, object]:
    """Email the receipt of an order (here: pretend to)."""
    if "@" not in job.data["email"]:
        raise UnrecoverableError(f"cannot send a receipt to {job.data['email']!r}")
    await job.update_progress(50)
    await asyncio.sleep(0.05)  # the mail server
    return {"order": job.data["order"], "sent_to": job.data["email"]}


HANDLERS: dict[str, Callable[[Job], Awaitable[object]]] = {"send-receipt": send_receipt}


async def process(job: Job) -> object:
    """The worker's processor: the job's name picks the function."""
    return await HANDLERS[job.name](job)
