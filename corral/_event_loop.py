"""Which event loop corral's own entry points run on: the CLI, the sync facade's
loop thread and the loop of a process worker's child.

``auto`` (the default) is uvloop when it is installed (``pip install
'corral[uvloop]'``), else asyncio's own loop; ``asyncio`` and ``uvloop`` ask for
one. The choice is ``corral worker --loop`` or the ``CORRAL_EVENT_LOOP``
environment variable (which child processes inherit). Code that runs its own loop
(``asyncio.run(worker.run())``) keeps the loop it chose: nothing here changes the
event loop policy.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from corral.errors import ConfigurationError

__all__ = ["ENV", "LOOPS", "loop_factory", "resolve", "run"]

T = TypeVar("T")

ENV = "CORRAL_EVENT_LOOP"
"""The environment variable that chooses the loop (see the module docstring)."""

LOOPS = ("auto", "asyncio", "uvloop")
"""The choices, in the order ``--loop`` lists them."""


def resolve(choice: str | None = None) -> str:
    """The loop ``choice`` (None: ``CORRAL_EVENT_LOOP``, else ``auto``) comes to:
    ``"asyncio"`` or ``"uvloop"``. An unknown choice, or uvloop asked for by name
    and not installed, raises :class:`~corral.errors.ConfigurationError` saying
    what to do."""
    from_env = choice is None
    if choice is None:
        choice = os.environ.get(ENV, "").strip() or "auto"
    where = f"{ENV}={choice!r}" if from_env else f"event loop {choice!r}"
    wanted = choice.lower()
    if wanted not in LOOPS:
        raise ConfigurationError(f"{where}: unknown event loop; use one of {', '.join(LOOPS)}")
    if wanted == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if wanted == "uvloop":
            raise ConfigurationError(
                f"{where}: uvloop is not installed; install it with "
                "pip install 'corral[uvloop]', or choose asyncio"
            ) from None
        return "asyncio"
    return "uvloop"


def loop_factory(choice: str | None = None) -> Callable[[], asyncio.AbstractEventLoop]:
    """A function that makes a new event loop of the kind :func:`resolve` names."""
    if resolve(choice) == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def run(main: Coroutine[Any, Any, T], choice: str | None = None) -> T:
    """``asyncio.run(main)`` on the loop :func:`resolve` names."""
    try:
        factory = loop_factory(choice)
    except BaseException:
        main.close()  # never started: no "was never awaited" warning
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
