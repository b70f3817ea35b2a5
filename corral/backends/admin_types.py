"""Result types of the queue-maintenance operations of the backend contract.

Kept apart from :mod:`corral.backends.base` so that module stays the job's life;
``base`` re-exports them. Times are epoch milliseconds, as everywhere in the
contract.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CLEAN_WINDOW", "CleanBatch", "GlobalLimits", "WorkerRecord"]

CLEAN_WINDOW = 1000
"""How many entries of a waiting, prioritized, delayed or active line one batch of
``Backend.clean`` looks at, at most (it removes at most its ``limit`` of them)."""


@dataclass(frozen=True, slots=True)
class CleanBatch:
    """What one batch of ``Backend.clean`` removed, and where the next one starts.

    ``ids``: the removed jobs, oldest first. ``cursor``: pass it to the next batch,
    or None when there is nothing more to look at. It is the backend's own (on
    Redis how many of the oldest entries were looked at and kept so far, on SQLite
    the place in the line of the last entry looked at); ``()`` starts at the oldest.
    """

    ids: list[str]
    cursor: tuple[int, ...] | None


@dataclass(frozen=True, slots=True)
class GlobalLimits:
    """A queue's own limits, honoured by every worker of the queue whatever its settings.

    ``concurrency``: at most that many jobs active at once (None: no limit).
    ``rate_max`` / ``rate_duration_ms``: at most ``rate_max`` jobs handed out per
    ``rate_duration_ms`` (both None: no limit). The queue's ``rate_max`` wins over a
    worker limiter's ``max``; a worker limiter's duration wins over the queue's (as
    BullMQ decides).
    """

    concurrency: int | None = None
    rate_max: int | None = None
    rate_duration_ms: int | None = None


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """A worker taking jobs from a queue now.

    ``id`` is the store's id for it (a Redis client id, or the worker's own id on
    SQLite); ``name`` is the worker's name (None for an unnamed one); ``host`` the
    address it connects from (Redis) or its host name (SQLite); ``pid`` its process
    id where the store knows it (None on Redis, whose client list has none).
    """

    id: str
    name: str | None
    host: str
    pid: int | None
    started_at_ms: int
    last_seen_ms: int
