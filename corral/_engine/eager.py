"""Starting an async processor in place: its first step runs at once, in the slot.

A processor runs in an asyncio task of its own, so that it can be stopped (see
:mod:`corral._engine.stops`). Most jobs of a busy worker are short: the processor
finishes without waiting for anything, and a task for it would cost more than the
job (creating it, a turn of the event loop before it starts, another when it ends).
So the processor's coroutine is stepped once right here, in a context of its own
(a copy of the current one, as a task would get): when it finishes in that step,
its result (or error) is the job's, and no task is made; a job that runs to its
end without yielding to the event loop could not have been stopped anyway. When
it waits for something, the rest of it goes on in a task, in the same context,
which can be stopped as any other.

This is what Python 3.12's eager tasks do; corral runs on 3.11 too.
"""

from __future__ import annotations

import asyncio
import contextvars
import types
from collections.abc import Awaitable, Callable, Generator
from typing import Any

__all__ = ["Started", "start"]


class Started:
    """A processor call after its first step: ``task`` is None when it already
    finished (``result`` holds what it returned), else the task running the rest."""

    __slots__ = ("result", "task")

    def __init__(self, result: Any, task: asyncio.Task[Any] | None) -> None:
        self.result = result
        self.task = task


def start(processor: Callable[[Any], Awaitable[Any]], job: Any) -> Started:
    """Call ``processor(job)`` and run it up to its first wait (see the module); an
    error it raises in that step is raised here."""
    context = contextvars.copy_context()
    awaitable = context.run(processor, job)
    loop = asyncio.get_running_loop()
    if type(awaitable) is not types.CoroutineType:
        # Another awaitable (a future, an object with __await__): a task runs it.
        return Started(None, loop.create_task(_wait(awaitable), context=context))
    try:
        first = context.run(awaitable.send, None)
    except StopIteration as finished:
        return Started(finished.value, None)
    return Started(None, loop.create_task(_Resumed(awaitable, first).run(), context=context))


async def _wait(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


class _Resumed:
    """Awaiting a coroutine that has already yielded ``first``: what ``await coro``
    would do from there, every value sent and every exception thrown (a
    cancellation) passed on to the coroutine."""

    __slots__ = ("_coro", "_first")

    def __init__(self, coro: types.CoroutineType[Any, Any, Any], first: Any) -> None:
        self._coro = coro
        self._first = first

    async def run(self) -> Any:
        return await self

    def __await__(self) -> Generator[Any, Any, Any]:
        coro = self._coro
        pending = self._first
        self._first = None
        while True:
            try:
                try:
                    sent = yield pending
                except GeneratorExit:
                    coro.close()
                    raise
                except BaseException as thrown:  # handed on, as `await` does
                    pending = coro.throw(thrown)
                else:
                    pending = coro.send(sent)
            except StopIteration as finished:
                return finished.value
