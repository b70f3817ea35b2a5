"""What a parent job knows about its children: the :class:`Dependencies` it reads.

A parent's children are named by their *job key* ``<prefix>:<queue>:<id>`` (they
may live in any queue), in four buckets: processed (with each child's return
value), unprocessed (still pending), ignored (failed, but the parent runs anyway:
``continue_parent_on_failure`` / ``ignore_dependency_on_failure``, with the
reason) and failed (``fail_parent_on_failure`` children that failed the parent).
These are BullMQ's ``getDependencies`` buckets; note that BullMQ's
``getFailedChildrenValues`` reads the *ignored* bucket, and so does corral's
``get_failed_children_values``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from corral._codec import loads_field
from corral.backends.base import Backend, DependencyBucket, DependencyPage

__all__ = ["Dependencies", "read_dependencies"]


@dataclass(frozen=True, slots=True)
class Dependencies:
    """A parent's children by job key (see :meth:`corral.Job.get_dependencies`).

    ``cursors`` holds, for each bucket with more children than the page had room
    for, where the next page starts: pass it back as ``cursors=`` to read on.
    """

    processed: dict[str, Any] = field(default_factory=dict)
    """Completed children: child key -> its return value (decoded JSON)."""
    unprocessed: list[str] = field(default_factory=list)
    """Children still pending."""
    ignored: dict[str, str] = field(default_factory=dict)
    """Failed children the parent runs without: child key -> failed reason."""
    failed: list[str] = field(default_factory=list)
    """Children that failed the parent (``fail_parent_on_failure``), oldest first."""
    cursors: Mapping[DependencyBucket, str] = field(default_factory=dict)


def decode(page: DependencyPage, parent_id: str) -> Dependencies:
    """A backend's page with the return values decoded."""
    processed = {
        key: loads_field(parent_id, f"processed[{key}]", value)
        for key, value in page.processed.items()
    }
    return Dependencies(
        processed, list(page.unprocessed), dict(page.ignored), list(page.failed), page.cursors
    )


async def read_dependencies(
    backend: Backend,
    queue: str,
    job_id: str,
    *,
    limit: int | None,
    cursors: Mapping[DependencyBucket, str] | Mapping[str, str] | None,
) -> Dependencies:
    """The job's children, ``limit`` per bucket (None: all), from ``cursors``."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a whole number >= 1 (or None for all), not {limit!r}")
    parsed = None if cursors is None else {DependencyBucket(k): v for k, v in cursors.items()}
    page = await backend.get_dependencies(queue, job_id, limit=limit, cursors=parsed)
    return decode(page, job_id)
