"""Prometheus metrics for corral's queues and workers (``prometheus_client``).

```python
from prometheus_client import REGISTRY
from corral.prometheus import QueueCollector, WorkerMetrics

collector = QueueCollector(connection=conn, queues=["emails"])
REGISTRY.register(collector)          # corral_queue_jobs{queue,state}
await collector.refresh()             # before a scrape, or on a timer

metrics = WorkerMetrics()             # counters and histograms, in REGISTRY
metrics.instrument(worker)            # records every job the worker runs
```

| metric | type | labels | what |
|---|---|---|---|
| ``corral_queue_jobs`` | gauge | queue, state | jobs per state, as of the last :meth:`QueueCollector.refresh` |
| ``corral_queue_paused`` | gauge | queue | 1 while the queue is paused |
| ``corral_jobs_completed_total`` | counter | queue, name | jobs a worker completed |
| ``corral_jobs_failed_total`` | counter | queue, name | failed attempts (retried or not) |
| ``corral_job_duration_seconds`` | histogram | queue, name | from start to finish of an attempt |
| ``corral_job_wait_seconds`` | histogram | queue | from when the job was due (added, or its delay ended) to its start, observed when the attempt completes or fails |
| ``corral_worker_jobs_active`` | gauge | queue | jobs the worker's slots are processing now |
| ``corral_worker_concurrency`` | gauge | queue | the worker's concurrency |

The dashboard serves all of them on ``/metrics``; ``corral worker --metrics-port N``
serves a worker's. Needs the ``prometheus_client`` package (the ``dashboard``
and ``metrics`` extras).
"""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from corral.errors import MissingDependency

try:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
    from prometheus_client.core import GaugeMetricFamily, Metric
    from prometheus_client.registry import REGISTRY, Collector
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependency(
        "corral's Prometheus metrics need the 'prometheus_client' package: "
        "pip install 'corral[metrics]'"
    ) from exc

from corral.connection import Connection, SharedConnection
from corral.queue import DEFAULT_COUNT_STATES, Queue

if TYPE_CHECKING:
    from corral.job import Job
    from corral.worker import Worker

__all__ = ["DURATION_BUCKETS", "FLUSH_EVERY", "QueueCollector", "WorkerMetrics"]

DURATION_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
    3600.0, float("inf"),
)  # fmt: skip
"""Histogram buckets (seconds) of the job duration and wait metrics."""

_STATES = tuple(state.value for state in DEFAULT_COUNT_STATES)


class QueueCollector(Collector):
    """``corral_queue_jobs{queue,state}`` and ``corral_queue_paused{queue}`` for the
    queues of one store.

    ``queues``: these queues (None: every queue the store has under ``prefix``).
    ``connection`` (a :class:`~corral.Connection`) or ``url`` (then the collector
    owns its connection; :meth:`close` closes it). Prometheus scrapes synchronously,
    so the collector reports what the last ``await refresh()`` read.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        prefix: str = "bull",
        queues: Sequence[str] | None = None,
        connection: SharedConnection | None = None,
    ) -> None:
        if connection is not None and url is not None:
            raise ValueError("give either url= or connection=, not both")
        self._own: Connection | None = None
        if connection is None:
            connection = self._own = Connection(url)
        self._connection = connection
        self._prefix = prefix
        self._names = None if queues is None else list(queues)
        self._queues: dict[str, Queue] = {}
        self._counts: dict[str, dict[str, int]] = {}
        self._paused: dict[str, bool] = {}

    async def refresh(self, queues: Sequence[str] | None = None) -> None:
        """Read the counts of every queue now (the next scrape reports them);
        ``queues``: these queues this time instead of the collector's own."""
        names = self._names if queues is None else list(queues)
        if names is None:
            names = await self._connection.backend(self._prefix).list_queues()
        counts: dict[str, dict[str, int]] = {}
        paused: dict[str, bool] = {}
        for name in names:
            queue = self._queues.get(name)
            if queue is None:
                queue = self._queues[name] = Queue(
                    name, connection=self._connection, prefix=self._prefix
                )
            counts[name] = await queue.get_job_counts(*_STATES)
            paused[name] = await queue.is_paused()
        self._counts, self._paused = counts, paused

    def collect(self) -> Iterator[Metric]:
        """The gauges, as of the last :meth:`refresh`."""
        jobs = GaugeMetricFamily(
            "corral_queue_jobs", "Jobs in each state of a corral queue.", labels=["queue", "state"]
        )
        paused = GaugeMetricFamily(
            "corral_queue_paused", "1 while a corral queue is paused.", labels=["queue"]
        )
        for name, counts in self._counts.items():
            for state, count in counts.items():
                jobs.add_metric([name, state], count)
            paused.add_metric([name], 1.0 if self._paused.get(name) else 0.0)
        yield jobs
        yield paused

    def describe(self) -> Iterator[Metric]:
        """The metrics :meth:`collect` yields, without their samples."""
        yield GaugeMetricFamily("corral_queue_jobs", "", labels=["queue", "state"])
        yield GaugeMetricFamily("corral_queue_paused", "", labels=["queue"])

    async def close(self) -> None:
        """Close the connection the collector opened from ``url`` (a given one stays open)."""
        if self._own is not None:
            await self._own.close()


FLUSH_EVERY = 64
"""How many finished jobs a worker's hooks tally before adding them to the metrics
(a scrape adds what is tallied first, so it never reads a stale number)."""


class _Tally:
    """What the hooks recorded of one (queue, name): plain numbers, cheaper per job
    than prometheus_client's locked values.

    Only the worker's event loop writes ``completed``, ``failed`` (totals, never
    reset) and appends to ``durations``; a flush, in whatever thread collects,
    adds the totals' growth since ``added_*`` and takes the durations it finds
    from the front of the list (a slice deletion, atomic with the loop's appends),
    so neither side needs a lock on the hot path."""

    __slots__ = ("added_completed", "added_failed", "completed", "durations", "failed", "targets")

    def __init__(self, targets: tuple[Any, Any, Any]) -> None:
        self.targets = targets
        """The completed counter, failed counter and duration histogram children."""
        self.completed = 0
        self.failed = 0
        self.durations: list[float] = []
        self.added_completed = 0
        self.added_failed = 0


def _take(values: list[float]) -> list[float]:
    """The values in ``values`` now, removed from it (appends meanwhile stay)."""
    count = len(values)
    taken = values[:count]
    del values[:count]
    return taken


def _observe_all(histogram: Any, values: list[float]) -> None:
    """``histogram.observe(v)`` for each of ``values``, one update per bucket hit.

    ``observe`` counts ``v`` in the first bucket whose bound is >= ``v``: the
    values up to bucket ``i``'s bound are ``bisect_right`` of it in the sorted
    values, the bucket's own those less the ones up to the bound before."""
    if not values:
        return
    values.sort()
    buckets = histogram._buckets
    below = 0
    for index, bound in enumerate(histogram._upper_bounds):
        upto = bisect_right(values, bound)
        if upto != below:
            buckets[index].inc(upto - below)
            below = upto
            if upto == len(values):
                break
    histogram._sum.inc(math.fsum(values))


class _FlushingCounter(Counter):
    """A Counter that adds the hooks' tallies before it is collected."""

    flush: Callable[[], None] | None = None

    def collect(self) -> Iterable[Metric]:
        if self.flush is not None:
            self.flush()
        return super().collect()


class _FlushingHistogram(Histogram):
    """A Histogram that adds the hooks' tallies before it is collected."""

    flush: Callable[[], None] | None = None

    def collect(self) -> Iterable[Metric]:
        if self.flush is not None:
            self.flush()
        return super().collect()


class WorkerMetrics:
    """Counters, histograms and gauges of the jobs workers run, in ``registry``
    (Prometheus' default one when None). One instance serves many workers: call
    :meth:`instrument` on each.

    The hooks tally each job in plain numbers and add them to the counters and
    histograms every :data:`FLUSH_EVERY` jobs and whenever the registry is
    collected (a scrape, ``generate_latest``, ``get_sample_value``): read the
    metrics through the registry. In prometheus_client's multiprocess mode
    (``PROMETHEUS_MULTIPROC_DIR``) every job is added at once, for the other
    processes that read them."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        where: Any = REGISTRY if registry is None else registry
        self.registry = where
        """The registry the metrics are in."""
        self.completed = _FlushingCounter(
            "corral_jobs_completed", "Jobs completed by corral workers.",
            ["queue", "name"], registry=where,
        )  # fmt: skip
        self.failed = _FlushingCounter(
            "corral_jobs_failed", "Failed attempts of jobs run by corral workers.",
            ["queue", "name"], registry=where,
        )  # fmt: skip
        self.duration = _FlushingHistogram(
            "corral_job_duration_seconds", "How long a job's attempt ran.",
            ["queue", "name"], buckets=DURATION_BUCKETS, registry=where,
        )  # fmt: skip
        self.wait = _FlushingHistogram(
            "corral_job_wait_seconds", "How long a job waited from due to start.",
            ["queue"], buckets=DURATION_BUCKETS, registry=where,
        )  # fmt: skip
        self.active = Gauge(
            "corral_worker_jobs_active", "Jobs a corral worker is processing now.",
            ["queue"], registry=where, multiprocess_mode="livesum",
        )  # fmt: skip
        self.concurrency = Gauge(
            "corral_worker_concurrency", "The concurrency of a corral worker.",
            ["queue"], registry=where, multiprocess_mode="livesum",
        )  # fmt: skip
        for metric in (self.completed, self.failed, self.duration, self.wait):
            metric.flush = self.flush
        self._workers: list[Worker] = []
        self._lock = threading.Lock()  # a scrape may run in another thread
        self._tallies: list[_Tally] = []
        self._waits: list[tuple[Any, list[float]]] = []
        self._every = 1 if values.ValueClass is not values.MutexValue else FLUSH_EVERY

    def flush(self) -> None:
        """Add what the hooks tallied to the counters and histograms now (collecting
        the registry does it first)."""
        with self._lock:  # one flush at a time: each adds what the last did not
            for tally in self._tallies:
                completed, failed, duration = tally.targets
                total = tally.completed
                if total != tally.added_completed:
                    completed.inc(total - tally.added_completed)
                    tally.added_completed = total
                total = tally.failed
                if total != tally.added_failed:
                    failed.inc(total - tally.added_failed)
                    tally.added_failed = total
                _observe_all(duration, _take(tally.durations))
            for histogram, waits in self._waits:
                _observe_all(histogram, _take(waits))

    def instrument(self, worker: Worker) -> None:
        """Record the jobs ``worker`` runs (through its ``completed`` and ``failed``
        hooks)."""
        queue = worker.queue_name
        self._workers.append(worker)
        self.concurrency.labels(queue).inc(worker.concurrency)
        self.active.labels(queue).set_function(
            lambda: float(sum(w.jobs_in_progress for w in self._workers if w.queue_name == queue))
        )
        waits: list[float] = []
        self._waits.append((self.wait.labels(queue), waits))
        # Each job name's tally, its children looked up once: labels() costs as much
        # as the update itself.
        by_name: dict[str, _Tally] = {}
        clock = time.perf_counter
        every = self._every
        pending = 0

        def tally_of(name: str) -> _Tally:
            found = by_name[name] = _Tally(
                (
                    self.completed.labels(queue, name),
                    self.failed.labels(queue, name),
                    self.duration.labels(queue, name),
                )
            )
            with self._lock:
                self._tallies.append(found)
            return found

        # Only the ending hooks: the runner notes when each attempt began on the job
        # (a job failed before it ran, e.g. one that stalled too often, has no start
        # and counts as failed without a duration or a wait).
        def ended(job: Job, failed: bool) -> None:
            nonlocal pending
            tally = by_name.get(job.name) or tally_of(job.name)
            if failed:
                tally.failed += 1
            else:
                tally.completed += 1
            began = job._started
            if began is not None:
                tally.durations.append(clock() - began)
                record = job._record
                processed = record.processed_on_ms
                if processed is not None:
                    wait = (processed - record.timestamp_ms - record.delay_ms) / 1000
                    waits.append(wait if wait > 0.0 else 0.0)
            pending += 1
            if pending >= every:
                pending = 0
                self.flush()

        def on_completed(job: Job, _result: object) -> None:
            ended(job, False)

        def on_failed(job: Job, _error: BaseException) -> None:
            ended(job, True)

        worker.on("completed", on_completed)
        worker.on("failed", on_failed)
