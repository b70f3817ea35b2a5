"""Result types of the queue-maintenance operations of the backend contract.

Kept apart from :mod:`corral.backends.base` so that module stays the job's life;
``base`` re-exports them. Times are epoch milliseconds, as everywhere in the
contract.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GlobalLimits", "WorkerRecord"]


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
