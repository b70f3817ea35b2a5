"""Deduplication: add a job only if no job with the same deduplication id is live.

``Queue.add(..., deduplication={"id": "user-42"})`` (or a :class:`Deduplication`)
stores BullMQ 6's ``de`` option and, on Redis, its ``de:<id>`` key holding the id
of the job that owns the deduplication id, so Node and corral adds deduplicate
against each other. Three modes, as BullMQ's:

* **simple** (no ``ttl``): while the owner is unfinished, another add with the same
  id adds nothing and returns the owner;
* **throttle** (``ttl`` seconds): for ``ttl`` after the owner was added (``extend``:
  after the latest add), whether it finished or not;
* **debounce** (``ttl`` with ``extend=True, replace=True``): a new add replaces a
  delayed owner, so the last one wins.

``keep_last_if_active``: an add that meets an *active* owner is kept aside (the
latest one only) and added when the owner finishes. ``reschedule``: an add that
meets a *delayed* owner moves it to the new add's delay.
A deduplicated add is no error: it returns the kept job and emits the event
``deduplicated`` (jobId: the kept job, deduplicationId, deduplicatedJobId: the id
the refused add would have had).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from corral._codec import check_text
from corral.backends.base import DedupRule

__all__ = [
    "Deduplication",
    "DeduplicationOption",
    "check_deduplication",
    "check_deduplication_id",
    "dedup_read",
    "dedup_rule",
    "dedup_write",
]


@dataclass(frozen=True, slots=True)
class Deduplication:
    """How an added job is deduplicated (``Queue.add(deduplication=...)``).

    ``id``: the deduplication id; ``ttl`` (seconds): how long the id stays taken
    (None: while the job is unfinished); ``extend``: each deduplicated add restarts
    the ttl; ``replace``: a new add replaces a delayed owner (with ``extend``: a
    debounce); ``keep_last_if_active``: an add that meets an active owner is added
    once the owner finishes; ``reschedule``: an add that meets a delayed owner
    moves it to the new add's delay.
    """

    id: str
    ttl: float | None = None
    extend: bool = False
    replace: bool = False
    keep_last_if_active: bool = False
    reschedule: bool = False

    @property
    def ttl_ms(self) -> int:
        """The ttl in ms (0: none)."""
        return 0 if self.ttl is None else round(self.ttl * 1000)


DeduplicationOption = Deduplication | Mapping[str, object] | None
"""What ``deduplication=`` takes: a :class:`Deduplication`, a mapping with its
fields (``keep_last_if_active`` also as BullMQ's ``keepLastIfActive``), or None."""

_FLAGS = ("extend", "replace", "keep_last_if_active", "reschedule")
_WIRE = {"keep_last_if_active": "keepLastIfActive"}


def check_deduplication(value: object) -> Deduplication | None:
    """The checked deduplication option; raises ValueError / TypeError naming the problem."""
    if value is None:
        return None
    if isinstance(value, Deduplication):
        fields: dict[str, object] = {
            "id": value.id,
            "ttl": value.ttl,
            **{f: getattr(value, f) for f in _FLAGS},
        }
    elif isinstance(value, Mapping):
        fields = {}
        for key, item in value.items():
            name = {"keepLastIfActive": "keep_last_if_active"}.get(str(key), str(key))
            if name not in ("id", "ttl", *_FLAGS):
                known = ", ".join(("id", "ttl", *_FLAGS))
                raise TypeError(f"unknown deduplication field {key!r}; known: {known}")
            fields[name] = item
    else:
        raise TypeError(
            "deduplication must be a mapping such as {'id': 'user-42', 'ttl': 5} or a "
            "corral.Deduplication"
        )
    dedup_id = fields.get("id")
    if not isinstance(dedup_id, str) or not dedup_id:
        raise ValueError("deduplication needs an 'id': a non-empty string such as 'user-42'")
    check_text(dedup_id, "deduplication id")
    ttl = fields.get("ttl")
    if ttl is not None:
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl):
            raise TypeError("deduplication ttl must be a number of seconds")
        if ttl <= 0:
            raise ValueError(f"deduplication ttl must be more than 0 seconds, got {ttl}")
        if round(ttl * 1000) < 1:
            raise ValueError("deduplication ttl must be at least 0.001 seconds")
    flags = {}
    for flag in _FLAGS:
        item = fields.get(flag, False)
        if not isinstance(item, bool):
            raise TypeError(f"deduplication {flag} must be True or False")
        flags[flag] = item
    if flags["extend"] and ttl is None:
        raise ValueError("deduplication extend needs a ttl: it restarts the ttl on each add")
    return Deduplication(dedup_id, None if ttl is None else float(ttl), **flags)


def dedup_write(value: Deduplication) -> dict[str, object]:
    """The ``de`` object as BullMQ stores it (ttl in ms; only the flags that are set)."""
    out: dict[str, object] = {"id": value.id}
    if value.ttl is not None:
        out["ttl"] = value.ttl_ms
    for flag in _FLAGS:
        if getattr(value, flag):
            out[_WIRE.get(flag, flag)] = True
    return out


def dedup_read(raw: object) -> Deduplication | None:
    """A stored ``de`` object, read leniently (None when it cannot be read)."""
    if not isinstance(raw, Mapping):
        return None
    dedup_id = raw.get("id")
    if not isinstance(dedup_id, str) or not dedup_id:
        return None
    ttl = raw.get("ttl")
    seconds = (
        ttl / 1000
        if isinstance(ttl, int | float) and not isinstance(ttl, bool) and ttl > 0
        else None
    )
    flags = {f: raw.get(_WIRE.get(f, f)) is True for f in _FLAGS}
    return Deduplication(dedup_id, seconds, **flags)


def dedup_rule(value: Deduplication, now_ms: int) -> DedupRule:
    """The rule a store applies for ``value``, for an add made at ``now_ms``."""
    return DedupRule(
        id=value.id,
        ttl_ms=value.ttl_ms,
        extend=value.extend,
        replace=value.replace,
        keep_last_if_active=value.keep_last_if_active,
        reschedule=value.reschedule,
        now_ms=now_ms,
    )


def check_deduplication_id(dedup_id: object) -> str:
    """``dedup_id`` if it can name a deduplication id."""
    if not isinstance(dedup_id, str):
        raise TypeError(f"deduplication id must be a string, not {type(dedup_id).__name__}")
    return dedup_id
