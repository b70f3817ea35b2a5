"""A worker's process options, checked before anything starts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from corral._process.target import ProcessTarget, load_target, resolve_target
from corral.options import Duration, to_ms

__all__ = ["ProcessOptions", "check_processor"]


@dataclass(frozen=True, slots=True)
class ProcessOptions:
    """How a process worker runs its children (see :class:`corral.Worker`)."""

    target: ProcessTarget
    processes: int
    max_jobs_per_child: int | None
    max_memory_per_child: int | None
    kill_grace: float


def _count(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1 (or None for no limit), got {value}")
    return value


def check_processor(
    processor: object,
    *,
    processes: object,
    max_jobs_per_child: object,
    max_memory_per_child: object,
    kill_grace: Duration,
) -> tuple[Callable[..., Any] | None, ProcessOptions | None]:
    """The processor to call in-process (None when there is none), and the process
    options when ``processes`` is set; refuses what cannot work, with the fix."""
    count = _count(processes, "processes")
    jobs = _count(max_jobs_per_child, "max_jobs_per_child")
    memory = _count(max_memory_per_child, "max_memory_per_child")
    grace_ms = to_ms(kill_grace, name="kill_grace")
    if count is None:
        if jobs is not None or memory is not None:
            raise ValueError(
                "max_jobs_per_child and max_memory_per_child recycle child processes: "
                "pass processes=N too"
            )
        if isinstance(processor, str):
            return load_target(processor), None
        if processor is not None and not callable(processor):
            raise TypeError(
                "processor must be a function taking a Job, or 'package.module:function'"
            )
        return processor, None
    if processor is None:
        raise ValueError(
            "processes=N runs a processor in child processes: pass the processor as "
            "'package.module:function' or a top-level function"
        )
    target, function = resolve_target(processor)
    options = ProcessOptions(target, count, jobs, memory, grace_ms / 1000)
    return function, options
