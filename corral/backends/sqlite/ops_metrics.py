"""BullMQ's per-minute metrics of finished jobs, on SQLite.

The same numbers Redis keeps in ``metrics:completed|failed`` (a hash) and their
``:data`` lists (see the Redis ``includes/metrics.lua``): ``metrics`` holds a
queue's counters per kind, ``metrics_points`` its data points, newest first by
descending ``seq`` (``head`` is the newest point's ``seq``). Collecting runs
inside ``move_to_finished``'s transaction.
"""

from __future__ import annotations

from corral.backends.base import MetricsPage
from corral.backends.sqlite._tx import Tx
from corral.backends.sqlite.connection import Conn
from corral.backends.sqlite.sql import Q

__all__ = ["collect", "get_metrics"]

MINUTE_MS = 60_000


def collect(tx: Tx, kind: str, max_points: int, now: int) -> None:
    """Count one job that finished (``kind``: completed or failed) at ``now``.

    Nearly every job falls in the minute still open: one UPDATE counts it, with
    no row read. Only the first job of a later minute (or of the queue) reads
    the counters, closes the minutes since and writes their points."""
    if tx.run("metrics_count", tx.qid, kind, now - now % MINUTE_MS).rowcount:
        return
    row = tx.run("metrics_get", tx.qid, kind).fetchone()
    if row is None:
        tx.run("metrics_start", tx.qid, kind, now)
        return
    before, prev_ts, prev_count, head = (int(v) for v in row)
    # At least 1: metrics_count counted every job of prev_ts's minute or earlier.
    minutes = min(now // MINUTE_MS - prev_ts // MINUTE_MS, max_points)
    # The closed minute's count, then a 0 for each idle minute since (newer).
    points = [(tx.qid, kind, head + 1, before - prev_count)]
    points += [(tx.qid, kind, head + i, 0) for i in range(2, minutes + 1)]
    tx.sql.executemany(Q["metrics_point_add"], points)
    newest = head + minutes
    tx.run("metrics_points_trim", tx.qid, kind, newest - max_points)
    tx.run("metrics_close", before + 1, now, before, newest, tx.qid, kind)


def get_metrics(conn: Conn, queue: str, kind: str, start: int, end: int) -> MetricsPage:
    """The counters and the data points ``[start, end]`` (newest first; negative
    indexes count from the oldest, as Redis ``LRANGE``)."""
    qid = conn.find_qid(queue)
    row = None if qid is None else conn.sql.execute(Q["metrics_get"], (qid, kind)).fetchone()
    if row is None:
        return MetricsPage(count=0, prev_ts_ms=0, prev_count=0, data=[], points=0)
    total = int(conn.sql.execute(Q["metrics_points_count"], (qid, kind)).fetchone()[0])
    first = max(total + start, 0) if start < 0 else start
    last = total + end if end < 0 else min(end, total - 1)
    data: list[int] = []
    if last >= first:
        rows = conn.sql.execute(Q["metrics_points_page"], (qid, kind, last - first + 1, first))
        data = [int(r[0]) for r in rows]
    return MetricsPage(
        count=int(row[0]), prev_ts_ms=int(row[1]), prev_count=int(row[2]), data=data, points=total
    )
