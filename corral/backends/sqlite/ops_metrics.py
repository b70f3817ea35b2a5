"""BullMQ's per-minute metrics of finished jobs, on SQLite.

The same numbers Redis keeps in ``metrics:completed|failed`` (a hash) and their
``:data`` lists (see the Redis ``includes/metrics.lua``): ``metrics`` holds a
queue's counters per kind, ``metrics_points`` its data points, newest first by
descending ``seq`` (``head`` is the newest point's ``seq``). Collecting runs
inside ``move_to_finished``'s transaction.
"""

from __future__ import annotations

import sqlite3

from corral.backends.base import MetricsPage
from corral.backends.sqlite._tx import Tx
from corral.backends.sqlite.connection import Conn
from corral.backends.sqlite.sql import Q

__all__ = ["collect", "get_metrics", "write_counted"]

MINUTE_MS = 60_000


def collect(tx: Tx, kind: str, max_points: int, now: int) -> None:
    """Count one job that finished (``kind``: completed or failed) at ``now``; the
    connection writes it with the other finishes of the transaction
    (:meth:`~corral.backends.sqlite.connection.Conn.count_finished`)."""
    tx.conn.count_finished(tx.qid, kind, max_points, now)


def write_counted(
    sql: sqlite3.Connection, qid: int, kind: str, max_points: int, now: int, jobs: int
) -> None:
    """Count ``jobs`` jobs that finished in ``now``'s minute, the first of them at
    ``now``, exactly as that many single counts in a row.

    Nearly every job falls in the minute still open: one UPDATE counts them, with
    no row read. Only the first job of a later minute (or of the queue) reads the
    counters, closes the minutes since and writes their points; the run's other
    jobs fall in the minute it opened."""
    if sql.execute(Q["metrics_count"], (qid, kind, now - now % MINUTE_MS, jobs)).rowcount:
        return
    row = sql.execute(Q["metrics_get"], (qid, kind)).fetchone()
    if row is None:
        sql.execute(Q["metrics_start"], (qid, kind, jobs, now))
        return
    before, prev_ts, prev_count, head = (int(v) for v in row)
    # At least 1: metrics_count counted every job of prev_ts's minute or earlier.
    minutes = min(now // MINUTE_MS - prev_ts // MINUTE_MS, max_points)
    # The closed minute's count, then a 0 for each idle minute since (newer).
    points = [(qid, kind, head + 1, before - prev_count)]
    points += [(qid, kind, head + i, 0) for i in range(2, minutes + 1)]
    sql.executemany(Q["metrics_point_add"], points)
    newest = head + minutes
    sql.execute(Q["metrics_points_trim"], (qid, kind, newest - max_points))
    sql.execute(Q["metrics_close"], (before + jobs, now, before, newest, qid, kind))


def get_metrics(conn: Conn, queue: str, kind: str, start: int, end: int) -> MetricsPage:
    """The counters and the data points ``[start, end]`` (newest first; negative
    indexes count from the oldest, as Redis ``LRANGE``)."""
    conn.flush_counts()  # what this transaction counted so far
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
