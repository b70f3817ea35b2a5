"""Hooks: the callbacks a worker runs on ``active``, ``completed``, ``failed``, …

A hook may be a plain function or a coroutine function. Its errors are logged and
never stop the worker. Emitting costs nothing for an event nobody listens to, so
the hot path asks ``event in hooks`` before building a hook's arguments.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any, Literal

__all__ = ["EVENTS", "Hooks", "WorkerEvent"]

WorkerEvent = Literal[
    "active", "completed", "failed", "stalled", "drained", "error", "cancelled", "paused", "resumed"
]
"""The event names a worker's hooks accept."""

EVENTS: frozenset[str] = frozenset(
    {
        "active",
        "completed",
        "failed",
        "stalled",
        "drained",
        "error",
        "cancelled",
        "paused",
        "resumed",
    }
)

logger = logging.getLogger("corral.worker")

Callback = Callable[..., Any]


class Hooks:
    """The callbacks registered for each event, in registration order."""

    __slots__ = ("_callbacks",)

    def __init__(self) -> None:
        self._callbacks: dict[str, list[Callback]] = {}

    @staticmethod
    def check(event: object) -> None:
        """Raise ValueError, naming the known events, if ``event`` is not one."""
        if event not in EVENTS:
            raise ValueError(f"unknown worker event {event!r}; known: {sorted(EVENTS)}")

    def on(self, event: str, callback: Callback) -> Callback:
        """Call ``callback`` on ``event``; returns it."""
        self.check(event)
        if not callable(callback):
            raise TypeError("callback must be callable")
        self._callbacks.setdefault(event, []).append(callback)
        return callback

    def off(self, event: str, callback: Callback | None = None) -> bool:
        """Stop calling ``callback`` on ``event`` (every callback of it when None).
        Returns whether anything was removed."""
        self.check(event)
        registered = self._callbacks.get(event)
        if not registered:
            return False
        if callback is None:
            del self._callbacks[event]
            return True
        try:
            registered.remove(callback)
        except ValueError:
            return False
        if not registered:
            del self._callbacks[event]
        return True

    def __contains__(self, event: object) -> bool:
        return event in self._callbacks

    async def emit(self, event: str, *args: Any) -> None:
        """Run the callbacks of ``event``; a callback's error is logged and ignored."""
        for callback in tuple(self._callbacks.get(event, ())):
            try:
                result = callback(*args)
                if result is not None and inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception("worker %r hook raised; ignored", event)
