"""What Queue's maintenance methods are built from: batching, state names, ordering.

The bulk operations (``clean``, ``drain``, ``retry_jobs``, ``promote_jobs``) call
their backend operation one batch at a time, each batch one atomic step, so a
store shared with busy workers answers them between batches (on Redis a batch
of 1000 jobs holds the server for a few ms). ``get_jobs(asc=...)`` is ordered
here, from the backend's per-state pages.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from corral.backends.admin_types import WorkerRecord
from corral.backends.base import Backend, JobRecord, JobState
from corral.options import ms_to_datetime

__all__ = [
    "BATCH",
    "CLEAN_STATES",
    "WorkerInfo",
    "check_count",
    "clean_state",
    "flatten_states",
    "ordered_jobs",
]

BATCH = 1000
"""Jobs per atomic step of the bulk operations."""

CLEAN_STATES = {
    "completed": JobState.COMPLETED,
    "failed": JobState.FAILED,
    "delayed": JobState.DELAYED,
    "prioritized": JobState.PRIORITIZED,
    "waiting": JobState.WAITING,
    "wait": JobState.WAITING,
    "active": JobState.ACTIVE,
}
"""The states ``Queue.clean`` takes (``wait`` is BullMQ's name for ``waiting``)."""

_NATIVE_ASC = frozenset(
    {JobState.WAITING, JobState.PRIORITIZED, JobState.DELAYED, JobState.WAITING_CHILDREN}
)
"""States the backends list oldest first (the others newest first)."""


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A worker taking jobs from a queue now (:meth:`corral.Queue.get_workers`).

    ``name``: the worker's name (None for an unnamed worker); ``host``: on Redis
    the address its connection comes from, on SQLite its host name; ``pid``: its
    process id (None on Redis, whose client list does not say); ``started_at`` /
    ``last_seen``: aware UTC datetimes (on Redis, when its connection opened and
    last sent a command). ``id`` is the store's id for it (a Redis client id).
    Node workers are listed too, on Redis.
    """

    id: str
    name: str | None
    host: str
    pid: int | None
    started_at: datetime
    last_seen: datetime

    @classmethod
    def from_record(cls, record: WorkerRecord) -> WorkerInfo:
        """The public form of a backend's record."""
        started = ms_to_datetime(record.started_at_ms)
        seen = ms_to_datetime(record.last_seen_ms)
        assert started is not None
        assert seen is not None
        return cls(record.id, record.name, record.host, record.pid, started, seen)


def clean_state(state: object) -> JobState:
    """The state ``clean`` removes jobs from; a wrong one names the known ones."""
    key = state.value if isinstance(state, JobState) else state
    if key == "paused":
        raise ValueError(
            "a paused queue's jobs stay in 'waiting' (BullMQ 6 keeps no paused list): "
            "clean('waiting', ...) removes them"
        )
    if not isinstance(key, str) or key not in CLEAN_STATES:
        known = ", ".join(s for s in CLEAN_STATES if s != "wait")
        raise ValueError(f"clean cannot take jobs from state {state!r}; known: {known}")
    return CLEAN_STATES[key]


def check_count(value: object, name: str, *, allow_zero: bool = False) -> int:
    """A whole number >= 1 (or >= 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number, not {type(value).__name__}")
    low = 0 if allow_zero else 1
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return value


def flatten_states(states: Iterable[object]) -> tuple[str, ...]:
    """``get_jobs("a", "b")`` and ``get_jobs(["a", "b"])`` name the same states."""
    flat: list[str] = []
    for item in states:
        if isinstance(item, list | tuple | set | frozenset):
            flat.extend(item)
        else:
            flat.append(item)  # type: ignore[arg-type]  # checked by _parse_states
    return tuple(flat)


async def ordered_jobs(
    backend: Backend,
    queue: str,
    states: Sequence[JobState],
    start: int,
    end: int,
    asc: bool,
) -> list[JobRecord]:
    """Jobs in ``states``, each state oldest first (``asc``) or newest first, sliced
    ``[start, end]`` over the whole concatenation, as ``Backend.get_jobs`` slices."""
    counts = await backend.get_counts(queue, states)
    total = sum(counts.get(s, 0) for s in states)
    last = total - 1 if end == -1 else min(end, total - 1)
    out: list[JobRecord] = []
    offset = 0
    for state in states:
        n = counts.get(state, 0)
        lo, hi = max(start - offset, 0), min(last - offset, n - 1)
        offset += n
        if lo > hi:
            continue
        if asc == (state in _NATIVE_ASC):
            out += await backend.get_jobs(queue, [state], lo, hi)
        else:
            page = await backend.get_jobs(queue, [state], n - 1 - hi, n - 1 - lo)
            out += reversed(page)
    return out
