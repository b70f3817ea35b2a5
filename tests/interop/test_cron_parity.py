"""corral's cron next-run times equal Node BullMQ's (cron-parser 5, as BullMQ 6 uses
it) for many patterns and zones, across clock changes: a scheduler gives the same
runs whichever side adds its next iteration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from corral._cron import next_run_ms
from tests.interop.conftest import NodeBullMQ, NodeEnv

pytestmark = pytest.mark.interop

PATTERNS = [
    "* * * * *",
    "*/15 * * * *",
    "0 * * * *",
    "30 * * * *",
    "0 */2 * * *",
    "0 0 * * *",
    "30 1 * * *",
    "30 2 * * *",
    "0 2 * * *",
    "0 3 * * *",
    "15 1,2,3 * * *",
    "*/7 1-3 * * *",
    "* 2 * * *",
    "0 9 * * 1-5",
    "5 4 * * sun",
    "45 23 * * 6",
    "30 0 * * 7",
    "0 12 1,15 * *",
    "0 0 1 * *",
    "0 0 L * *",
    "0 0 29 2 *",
    "0 30 2 * * *",
    "*/20 * * * * *",
    "10 */5 1-3 * * *",
    "@daily",
    "@hourly",
]
ZONES = [
    "UTC",
    "Europe/Paris",
    "Europe/London",
    "America/New_York",
    "America/Sao_Paulo",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Pacific/Auckland",
]
# cron-parser gives up ("loop limit exceeded") on Australia/Lord_Howe's 30-minute
# clock change, so that zone cannot be compared.
RUNS = 8


def _clock_changes(zone: ZoneInfo, year: int) -> list[datetime]:
    """The instants of ``year`` at which ``zone``'s offset changes (to the hour)."""
    changes = []
    moment = datetime(year, 1, 1, tzinfo=UTC)
    offset = moment.astimezone(zone).utcoffset()
    while moment.year == year:
        nxt = moment + timedelta(hours=1)
        if nxt.astimezone(zone).utcoffset() != offset:
            changes.append(nxt)
            offset = nxt.astimezone(zone).utcoffset()
        moment = nxt
    return changes


def _starts(tz: str) -> list[int]:
    zone = ZoneInfo(tz)
    starts = [datetime(2026, 12, 31, 22, 7, 30, tzinfo=UTC)]
    for change in _clock_changes(zone, 2026):
        starts += [change - timedelta(minutes=50), change + timedelta(minutes=10)]
    return [int(s.timestamp() * 1000) for s in starts]


def _ours(pattern: str, tz: str, start: int) -> list[int]:
    runs, after = [], start
    for _ in range(RUNS):
        found = next_run_ms(pattern, tz, after)
        assert found is not None
        runs.append(found)
        after = found
    return runs


async def test_next_runs_match_node_cron_parser(node_env: NodeEnv) -> None:
    runs = [(p, tz, start) for tz in ZONES for start in _starts(tz) for p in PATTERNS]
    cases = [[p, tz, start, RUNS] for p, tz, start in runs]
    node = NodeBullMQ(node_env, "redis://127.0.0.1:1/0")  # cron only: no store is opened
    # In batches: Node cuts off a very long last line when it exits.
    theirs: list[list[int | str]] = []
    for i in range(0, len(cases), 150):
        step = {"op": "cronNext", "cases": cases[i : i + 150]}
        (answer,) = await node.run("schedulers.mjs", "cron", {"steps": [step]})
        theirs += answer
    assert len(theirs) == len(cases)
    mismatches = []
    for (pattern, tz, start), expected in zip(runs, theirs, strict=True):
        got = _ours(pattern, tz, start)
        if got != expected:
            mismatches.append(
                (pattern, tz, datetime.fromtimestamp(start / 1000, UTC), expected, got)
            )
    assert not mismatches, f"{len(mismatches)} of {len(cases)} differ, e.g. {mismatches[:3]}"
    assert len(cases) > 500
