"""Cron patterns: checking them and computing their next run in a time zone.

corral reads patterns with `cronsim <https://pypi.org/project/cronsim/>`_ (five
fields, or six with seconds first, as BullMQ's cron-parser takes them; names,
ranges, steps, ``L``, ``W`` and ``#``) and the IANA zones of :mod:`zoneinfo`
(``tzdata`` supplies them where the system has none). Both come with the
``cron`` and ``redis`` extras; cronsim is imported only when a cron pattern is
used, so corral itself still needs nothing. Next runs are computed
as Node BullMQ's cron-parser computes them, so a scheduler gives the same times
whichever side adds its next iteration:

* wall times are matched in the zone, one after another;
* a wall time that does not exist (the hour skipped when clocks spring forward)
  runs once, shifted by the change: a 02:30 job on that day runs at 03:30;
* a wall time that happens twice (the hour repeated when clocks fall back) runs
  once, the first time, for a pattern naming its hours; a pattern that runs every
  hour (hour field ``*``) runs in both passes of the repeated hour, as it runs
  every real hour.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from corral.errors import MissingDependency

if TYPE_CHECKING:
    from cronsim import CronSim

__all__ = ["check_pattern", "check_zone", "next_run_ms"]

_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LOOKAHEAD = timedelta(hours=4)
"""Past the first candidate, how far later wall times are still read: a clock
change moves instants by at most a few hours, so no earlier run can hide beyond."""


def _cronsim() -> Any:
    """The cronsim module, imported on first use: only cron schedules need it."""
    try:
        import cronsim
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependency(
            "cron schedules need the 'cronsim' package: pip install 'corral[cron]' "
            "(the redis extra includes it)"
        ) from exc
    return cronsim


def _expand(pattern: str) -> str:
    text = " ".join(pattern.split())
    return _ALIASES.get(text.lower(), text)


@functools.lru_cache(maxsize=256)
def check_pattern(pattern: str) -> str:
    """The pattern as corral runs it (aliases such as ``@daily`` expanded); a
    pattern cronsim cannot read raises ValueError saying what is wrong."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise ValueError(
            "cron must be a pattern such as '0 3 * * *' (minute hour day month weekday)"
        )
    expanded = _expand(pattern)
    fields = len(expanded.split())
    if fields not in (5, 6):
        raise ValueError(
            f"cron pattern {pattern!r} has {fields} fields: give 5 (minute hour day month "
            "weekday) or 6 (seconds first)"
        )
    cronsim = _cronsim()
    try:
        cronsim.CronSim(expanded, datetime(2000, 1, 1))
    except (cronsim.CronSimError, ValueError, IndexError, KeyError) as exc:
        raise ValueError(f"cron pattern {pattern!r} cannot be read: {exc}") from None
    return expanded


@functools.lru_cache(maxsize=256)
def check_zone(tz: str) -> ZoneInfo:
    """The IANA zone named ``tz`` (e.g. ``Europe/Paris``); an unknown name raises ValueError."""
    if not isinstance(tz, str) or not tz:
        raise ValueError("tz must be an IANA time zone name such as 'Europe/Paris'")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {tz!r}: use an IANA name such as 'Europe/Paris' or 'UTC'"
        ) from None


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def next_run_ms(pattern: str, tz: str | None, after_ms: int) -> int | None:
    """The first run of ``pattern`` in zone ``tz`` (None: UTC) strictly after
    ``after_ms`` (epoch ms), or None if it never runs again."""
    expanded = check_pattern(pattern)
    zone = check_zone(tz) if tz else ZoneInfo("UTC")
    after = _EPOCH + timedelta(milliseconds=after_ms)
    local = after.astimezone(zone)
    in_second_pass = local.fold == 1
    start = local.replace(tzinfo=None, fold=0)
    before = (after - _LOOKAHEAD).astimezone(zone).utcoffset()
    later = (after + _LOOKAHEAD).astimezone(zone).utcoffset()
    span = abs(later - before) if before is not None and later is not None else timedelta(0)
    span_ms = span // timedelta(milliseconds=1)
    sim: CronSim = _cronsim().CronSim(expanded, start)
    every_hour = len(sim.hours) == 24
    if every_hour and span:
        # A pattern that runs every hour runs in both passes of a repeated hour:
        # read the wall times of the repeated hour too, from as far back as the change.
        sim = _cronsim().CronSim(expanded, start - span)
    best: int | None = None
    for wall in sim:
        first = _ms(wall.replace(tzinfo=zone, fold=0))
        second = _ms(wall.replace(tzinfo=zone, fold=1))
        if best is not None and first > best + span_ms:
            break
        candidates: tuple[int, ...]
        if every_hour or second == first:
            candidates = (first, second)
        elif in_second_pass:
            candidates = (second,)
        else:
            candidates = (first,)
        for moment in candidates:
            if moment > after_ms and (best is None or moment < best):
                best = moment
        if best is not None and not _changes_between(zone, after, best):
            break  # no clock change near: wall order is time order, the first is the next
    return best


def _changes_between(zone: ZoneInfo, after: datetime, best_ms: int) -> bool:
    """Whether ``zone``'s offset may change between ``after`` and ``best_ms`` (with
    the look-ahead either side)."""
    first = (after - _LOOKAHEAD).astimezone(zone).utcoffset()
    last = (_EPOCH + timedelta(milliseconds=best_ms) + _LOOKAHEAD).astimezone(zone).utcoffset()
    return first != last
