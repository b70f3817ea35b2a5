"""The names a queue's own keys take in BullMQ's layout, which no job id may take.

On Redis every key of queue ``q`` under prefix ``p`` is ``p:q:<rest>``, and a job's
hash is ``p:q:<job id>``: a job whose id is ``meta`` *is* the queue's meta hash, one
whose id is ``wait`` turns the wait list into a hash (``WRONGTYPE`` on every
fetch). :data:`RESERVED_JOB_IDS` is every first segment of ``<rest>`` a queue key
has, so refusing those ids (on every backend, so a queue behaves the same
everywhere) keeps job keys and queue keys apart:

* :data:`QUEUE_SUFFIXES`: the queue-level keys the Lua scripts name in their
  ``KEYS`` headers (see :mod:`corral.backends.redis.keys` for what each holds);
* :data:`KEY_FAMILIES`: first segments of keys named ``<segment>:<something>``
  (``de:<id>`` deduplication, ``dn:<id>``, ``repeat:<id>`` schedulers,
  ``metrics:completed``): a job with such an id would own ``<segment>:lock``,
  ``<segment>:logs`` …, which are keys of that family;
* ``delay``: a key of BullMQ 3/4 that ``obliterate`` still deletes.

A test reads every Lua script and checks that each key suffix it names is here.
The prefix rule lives here too (:func:`validate_prefix`): a prefix holds no ``:``,
so ``<prefix>:<queue>:`` can be read back one way only. This module imports
nothing of the Redis backend, so the embedded backend uses it without Redis's
extra installed.
"""

from __future__ import annotations

import re

__all__ = ["KEY_FAMILIES", "QUEUE_SUFFIXES", "RESERVED_JOB_IDS", "validate_prefix"]

QUEUE_SUFFIXES = frozenset(
    {
        "wait",
        "paused",
        "active",
        "prioritized",
        "pc",
        "delayed",
        "completed",
        "failed",
        "waiting-children",
        "stalled",
        "stalled-check",
        "limiter",
        "id",
        "meta",
        "events",
        "marker",
        "repeat",
        "metrics:completed",
        "metrics:completed:data",
        "metrics:failed",
        "metrics:failed:data",
    }
)
"""The queue-level key suffixes a script may name in its ``KEYS`` header."""

KEY_FAMILIES = frozenset({"de", "dn", "repeat", "metrics"})
"""First segments of the queue's ``<segment>:<name>`` keys."""

RESERVED_JOB_IDS = QUEUE_SUFFIXES | KEY_FAMILIES | {"delay"}
"""Job ids refused at add: each names one of the queue's own keys (or a family of them)."""

_PREFIX = re.compile(r"[!-9;-~]+")
"""Printable ASCII from '!' to '~' except ':'."""


def validate_prefix(prefix: object) -> str:
    """Return ``prefix`` if it is a usable key prefix, else raise with the rule.

    A prefix is printable ASCII without spaces and without ``:``. A ``:`` would
    make keys ambiguous: prefix ``p:a`` with queue ``b`` and prefix ``p`` with queue
    ``a`` (job ``b``) would share keys and could destroy each other's. Redis names
    the connections that wait for jobs after the prefix, and a client name holds
    printable ASCII only.
    """
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a string such as 'bull', not {type(prefix).__name__}")
    if not prefix:
        raise ValueError("prefix must be a non-empty string such as 'bull'")
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(
            f"prefix {prefix!r} must be printable ASCII without spaces or ':' (e.g. 'bull', "
            "'app-jobs', '{app}'): a ':' would let its keys overlap another prefix's ('p:a' + "
            "queue 'b' is 'p' + queue 'a'), and Redis names connections after the prefix"
        )
    return prefix
