"""corral: a reliable Python job queue with BullMQ's model.

A worker that takes a job holds a lock owned by a token for a lock duration;
only that token may extend the lock, complete, fail or put back the job. A
stalled checker returns the jobs of dead workers to the queue. Jobs live in an
embedded SQLite file by default, or in Redis, stored exactly as Node BullMQ 6
stores them so Python and Node share queues.

```python
from corral import Queue, Worker

queue = Queue("emails")
await queue.add("send", {"to": "a@example.com"})

worker = Worker("emails")
job = await worker.get_next_job("my-token")
await job.move_to_completed("sent", "my-token", fetch_next=False)
```
"""

import logging

from corral._children import Dependencies
from corral._version import __version__
from corral.backends.base import DependencyCounts, JobState
from corral.cancellation import Cancellation, CancelOutcome
from corral.connection import Connection
from corral.dedup import Deduplication
from corral.errors import (
    BackendError,
    ChildCrashedError,
    ChildJobError,
    ConfigurationError,
    CorralError,
    CorruptJobError,
    DelayedError,
    FailedChildrenError,
    JobCancelledError,
    JobError,
    JobFailedError,
    JobNotFoundError,
    JobStateError,
    JobTimeoutError,
    LockError,
    LockMismatchError,
    MissingDependency,
    MissingLockError,
    ObliterateError,
    ParentConflictError,
    ParentNotFoundError,
    PendingDependenciesError,
    ProcessorError,
    QueueError,
    RateLimitError,
    StoreReplacedError,
    StoreUnavailableError,
    UnrecoverableError,
    WaitingChildrenError,
)
from corral.events import QueueEvent, QueueEvents
from corral.flows import FlowJob, FlowNode, FlowProducer
from corral.job import Job
from corral.metrics import Metrics, MetricsMeta, MetricsTime
from corral.options import Backoff, JobOptions, ParentRef, RateLimiter, RemovePolicy
from corral.queue import Queue, WorkerInfo
from corral.schedulers import JobScheduler
from corral.worker import Worker

# A library logs; the application decides where logs go (and the CLI configures it).
logging.getLogger("corral").addHandler(logging.NullHandler())

__all__ = [
    "BackendError",
    "Backoff",
    "CancelOutcome",
    "Cancellation",
    "ChildCrashedError",
    "ChildJobError",
    "ConfigurationError",
    "Connection",
    "CorralError",
    "CorruptJobError",
    "Deduplication",
    "DelayedError",
    "Dependencies",
    "DependencyCounts",
    "FailedChildrenError",
    "FlowJob",
    "FlowNode",
    "FlowProducer",
    "Job",
    "JobCancelledError",
    "JobError",
    "JobFailedError",
    "JobNotFoundError",
    "JobOptions",
    "JobScheduler",
    "JobState",
    "JobStateError",
    "JobTimeoutError",
    "LockError",
    "LockMismatchError",
    "Metrics",
    "MetricsMeta",
    "MetricsTime",
    "MissingDependency",
    "MissingLockError",
    "ObliterateError",
    "ParentConflictError",
    "ParentNotFoundError",
    "ParentRef",
    "PendingDependenciesError",
    "ProcessorError",
    "Queue",
    "QueueError",
    "QueueEvent",
    "QueueEvents",
    "RateLimitError",
    "RateLimiter",
    "RemovePolicy",
    "StoreReplacedError",
    "StoreUnavailableError",
    "UnrecoverableError",
    "WaitingChildrenError",
    "Worker",
    "WorkerInfo",
    "__version__",
]
