"""The flow types of the backend contract: a child's link to its parent and a
parent's buckets of children (see :mod:`corral.backends.base`, which exports them).

Kept apart from ``base.py`` only for size; they are part of the same contract.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "DependencyBucket",
    "DependencyCounts",
    "DependencyPage",
    "ParentLink",
    "ParentPolicy",
]


class ParentPolicy(enum.StrEnum):
    """What a child's failure (for good) does to its parent. The values are BullMQ's
    flags in the child's ``parent`` field."""

    NONE = ""
    """The child stays pending: the parent waits until it is retried and completes."""
    FAIL_PARENT = "fpof"
    """The child goes to the parent's failed bucket; the parent is released at once
    and fails on its next fetch with ``child <key> failed``."""
    CONTINUE_PARENT = "cpof"
    """The child goes to the parent's ignored bucket; the parent is released at once."""
    IGNORE = "idof"
    """The child goes to the parent's ignored bucket; the parent is released once no
    child is pending."""
    REMOVE = "rdof"
    """The child leaves the parent's buckets; the parent is released once no child is pending."""


@dataclass(frozen=True, slots=True)
class ParentLink:
    """A child's parent: the parent's queue key ``<prefix>:<queue>``, its id, and what
    the child's failure does to it."""

    queue_key: str
    id: str
    policy: ParentPolicy = ParentPolicy.NONE

    @property
    def key(self) -> str:
        """The parent's job key ``<prefix>:<queue>:<id>``."""
        return f"{self.queue_key}:{self.id}"


class DependencyBucket(enum.StrEnum):
    """The four buckets of a parent's children (BullMQ's ``getDependencies`` names)."""

    PROCESSED = "processed"
    UNPROCESSED = "unprocessed"
    IGNORED = "ignored"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DependencyPage:
    """A page of a parent's children, by child job key ``<prefix>:<queue>:<id>``.

    Keys are in key order, but ``failed`` oldest failure first. ``cursors`` holds,
    for each bucket with more keys than the page had room for, where the next page
    starts (opaque text for :meth:`Backend.get_dependencies`).
    """

    processed: Mapping[str, str]
    """Child key -> the child's return value (JSON text)."""
    unprocessed: Sequence[str]
    """Children still pending."""
    ignored: Mapping[str, str]
    """Child key -> failed reason, for children whose failure does not fail the parent
    (``cpof`` / ``idof``; BullMQ's ``<id>:failed`` hash)."""
    failed: Sequence[str]
    """Children whose failure fails the parent (``fpof``; BullMQ's ``<id>:unsuccessful``)."""
    cursors: Mapping[DependencyBucket, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DependencyCounts:
    """How many children a job has in each bucket (all 0 for a job that is no parent)."""

    processed: int = 0
    unprocessed: int = 0
    ignored: int = 0
    failed: int = 0
