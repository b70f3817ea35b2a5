"""Starting an async processor in place: its first step runs at once, in the slot.

Most jobs of a busy worker are short: the processor finishes without waiting for
anything. So the processor's coroutine is stepped once right here, in a context
of its own (a copy of the current one, as a task would get): when it finishes in
that step, its result (or error) is the job's and nothing more is set up; a job
that runs to its end without yielding to the event loop could not have been
stopped anyway. When it waits for something, the rest of it is awaited by the
slot's own task (:class:`Resumed`), still in that context, step by step as a
task would run it: no task per job, and cancelling the slot's task is how the
processor is stopped (see :mod:`corral._engine.stops`).

This is what Python 3.12's eager tasks do, without the task; corral runs on 3.11 too.
"""

from __future__ import annotations

import contextvars
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

__all__ = ["Resumed", "Started", "start"]


class Started:
    """A processor call after its first step: ``rest`` is None when it already
    finished (``result`` holds what it returned), else what to await for the rest."""

    __slots__ = ("rest", "result")

    def __init__(self, result: Any, rest: Resumed | None) -> None:
        self.result = result
        self.rest = rest


def start(processor: Callable[[Any], Awaitable[Any]], job: Any) -> Started:
    """Call ``processor(job)`` and run it up to its first wait (see the module); an
    error it raises in that step is raised here."""
    context = contextvars.copy_context()
    awaitable = context.run(processor, job)
    if type(awaitable) is not types.CoroutineType:
        # Another awaitable (a future, an object with __await__): await it in a
        # coroutine, stepped the same way.
        awaitable = _wait(awaitable)
    try:
        first = context.run(awaitable.send, None)
    except StopIteration as finished:
        return Started(finished.value, None)
    return Started(None, Resumed(awaitable, first, context))


async def _wait(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


class Resumed:
    """Awaiting a coroutine that has already yielded ``first``: what ``await coro``
    would do from there, every value sent and every exception thrown (a
    cancellation) passed on to the coroutine, each step run in ``context``."""

    __slots__ = ("_context", "_coro", "_first")

    def __init__(
        self, coro: Coroutine[Any, Any, Any], first: Any, context: contextvars.Context
    ) -> None:
        self._coro = coro
        self._first = first
        self._context = context

    def __await__(self) -> Generator[Any, Any, Any]:
        coro = self._coro
        run = self._context.run
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
                    pending = run(coro.throw, thrown)
                else:
                    pending = run(coro.send, sent)
            except StopIteration as finished:
                return finished.value
