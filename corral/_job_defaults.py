"""A queue's ``default_job_options``: checked once, merged into every add.

BullMQ's ``defaultJobOptions`` is ``{...defaults, ...opts}``: an option given to
``add`` wins. ``Queue.add`` cannot tell an option left out from one passed at its
default value (its parameters have defaults), so, as :class:`corral.options.Option`
says of every option, an option at its default counts as not given and the
queue's default applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from corral.options import OPTIONS, JobOptions

__all__ = ["check_default_options", "with_defaults"]

_BY_NAME = {row.name: row for row in OPTIONS}
_PER_JOB = ("job_id", "timestamp", "parent")
"""Options that name one job, so they cannot be a queue's default."""

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def check_default_options(options: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """``options`` checked as ``Queue.add`` checks them (a read-only copy); unknown
    names and per-job options are refused, naming them."""
    if options is None:
        return _EMPTY
    if not isinstance(options, Mapping):
        raise TypeError(
            "default_job_options must be a mapping of Queue.add options, e.g. {'attempts': 3}"
        )
    per_job = sorted(set(options) & set(_PER_JOB))
    if per_job:
        raise ValueError(
            f"default_job_options cannot hold {per_job}: they name a single job; pass them to add()"
        )
    try:
        JobOptions.build(**dict(options))
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"default_job_options: {exc}") from None
    return MappingProxyType(dict(options))


def _at_default(name: str, value: object) -> bool:
    row = _BY_NAME.get(name)
    return row is not None and type(value) is type(row.default) and value == row.default


def with_defaults(defaults: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """The options an add uses: ``defaults``, then every option of ``options`` that is
    given (not at its default value)."""
    if not defaults:
        return dict(options)
    merged = dict(defaults)
    for name, value in options.items():
        if name not in defaults or not _at_default(name, value):
            merged[name] = value
    return merged
