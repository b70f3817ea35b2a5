"""BullMQ's metrics: how many jobs completed and failed, minute by minute.

A worker made with ``metrics=`` counts every job it finishes, in the same step
that finishes it, the way Node BullMQ's workers do (``Worker(metrics:
{maxDataPoints})``): on Redis in BullMQ's own ``metrics:completed`` /
``metrics:failed`` keys, so Node's ``queue.getMetrics()`` and Bull Board read
corral's numbers and corral reads Node's; on SQLite in tables of its own.

```python
from corral import MetricsTime, Queue, Worker

worker = Worker("emails", send, metrics=MetricsTime.ONE_WEEK)   # keep a week of minutes
...
metrics = await Queue("emails").get_metrics("completed")
metrics.data        # jobs per minute, newest first: [12, 9, 0, 14, ...]
metrics.meta.count  # jobs counted in all
```

Give every worker of a queue the same ``metrics`` (as BullMQ advises): the
newest worker to close a minute trims the list to its own length.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["METRICS_KINDS", "Metrics", "MetricsMeta", "MetricsTime", "check_max_points"]

METRICS_KINDS: tuple[str, ...] = ("completed", "failed")
"""What is counted: jobs that completed, and jobs that failed for good."""


class MetricsTime(enum.IntEnum):
    """How many one-minute data points cover a span of time (BullMQ's ``MetricsTime``)."""

    ONE_MINUTE = 1
    FIFTEEN_MINUTES = 15
    THIRTY_MINUTES = 30
    ONE_HOUR = 60
    ONE_DAY = 1440
    ONE_WEEK = 10080
    TWO_WEEKS = 20160
    ONE_MONTH = 80640


@dataclass(frozen=True, slots=True)
class MetricsMeta:
    """The counters behind the data points (BullMQ's ``meta``): ``count`` jobs
    counted in all; ``prev_ts`` (epoch ms) and ``prev_count``: when the last
    minute was closed, and ``count`` then."""

    count: int
    prev_ts: int
    prev_count: int


@dataclass(frozen=True, slots=True)
class Metrics:
    """A queue's metrics of one kind, as ``queue.get_metrics`` reads them (BullMQ's
    ``Metrics``): ``data`` the jobs per closed minute asked for, newest first;
    ``count`` how many data points are kept."""

    meta: MetricsMeta
    data: list[int]
    count: int

    @property
    def in_open_minute(self) -> int:
        """Jobs counted since the last minute was closed (not yet in ``data``)."""
        return self.meta.count - self.meta.prev_count


def check_max_points(value: object) -> int:
    """``metrics=`` of a Worker: a whole number of minutes >= 1 (None is checked
    by the caller); the error names the fix."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            "metrics must be how many minutes of counts to keep, e.g. MetricsTime.ONE_WEEK"
        )
    if value < 1:
        raise ValueError(f"metrics must keep at least 1 minute, got {value}")
    return int(value)
