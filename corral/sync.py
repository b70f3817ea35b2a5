"""The blocking API: the same Queue, Worker and Job, for code without an event loop.

```python
from corral.sync import Queue, Worker

Queue("emails").add("send", {"to": "a@example.com"})
worker = Worker("emails")
job = worker.get_next_job("tok")
job.move_to_completed("sent", "tok", fetch_next=False)
```

Every method has the name and parameters of its async twin (a test keeps them
in step) and blocks until it is done. The calls run on one background event
loop shared by the process (:mod:`corral._portal`).
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

from corral import events as _events
from corral import job as _job
from corral import queue as _queue
from corral import worker as _worker
from corral._policy import BackoffStrategy
from corral._portal import get_portal
from corral.backends.base import JobState
from corral.options import Duration, JobOptions, RateLimiter

__all__ = ["Job", "Queue", "QueueEvents", "Worker"]

T = TypeVar("T")


def _call(coro: Coroutine[Any, Any, T]) -> T:
    return get_portal().call(coro)


def _wrap(job: _job.Job | None) -> Job | None:
    return None if job is None else Job(job)


class Job:
    """A job, with blocking moves. Wraps a :class:`corral.Job` (``.async_job``)."""

    def __init__(self, job: _job.Job) -> None:
        self.async_job = job

    @classmethod
    def from_json(
        cls, owner: Queue | Worker, raw: Mapping[str, str], job_id: str, token: str | None = None
    ) -> Job:
        """Build a Job from its stored fields; see :meth:`corral.Job.from_json`."""
        return cls(_job.Job.from_json(owner._client, raw, job_id, token))

    @classmethod
    def create(cls, queue: Queue, name: str, data: Any = None, **options: Any) -> Job:
        """Add a job to ``queue``; the same as ``queue.add(name, data, **options)``."""
        return queue.add(name, data, **options)

    # Plain attributes are read from the async job.
    @property
    def id(self) -> str:
        """The job's id."""
        return self.async_job.id

    @property
    def name(self) -> str:
        """The job's name."""
        return self.async_job.name

    @property
    def token(self) -> str | None:
        """The lock token the job was fetched with."""
        return self.async_job.token

    @property
    def data(self) -> Any:
        """The job's payload."""
        return self.async_job.data

    @property
    def opts(self) -> JobOptions:
        """The job's options."""
        return self.async_job.opts

    @property
    def return_value(self) -> Any:
        """What the job completed with."""
        return self.async_job.return_value

    @property
    def failed_reason(self) -> str | None:
        """Why the job's last attempt failed."""
        return self.async_job.failed_reason

    @property
    def attempts_made(self) -> int:
        """Attempts that finished (completed or failed)."""
        return self.async_job.attempts_made

    @property
    def attempts_started(self) -> int:
        """Times the job was fetched."""
        return self.async_job.attempts_started

    @property
    def stalled_counter(self) -> int:
        """Times the job stalled."""
        return self.async_job.stalled_counter

    @property
    def timestamp(self) -> datetime:
        """When the job was created."""
        return self.async_job.timestamp

    @property
    def processed_on(self) -> datetime | None:
        """When the job was last fetched."""
        return self.async_job.processed_on

    @property
    def finished_on(self) -> datetime | None:
        """When the job finished."""
        return self.async_job.finished_on

    @property
    def delay(self) -> float:
        """The job's delay in seconds."""
        return self.async_job.delay

    @property
    def priority(self) -> int:
        """The job's priority (0: none)."""
        return self.async_job.priority

    @property
    def progress(self) -> Any:
        """The job's last reported progress."""
        return self.async_job.progress

    @property
    def stacktrace(self) -> list[str]:
        """Stack traces of failed attempts."""
        return self.async_job.stacktrace

    @property
    def queue_name(self) -> str:
        """The name of the job's queue."""
        return self.async_job.queue_name

    def move_to_completed(
        self, return_value: Any = None, token: str | None = None, *, fetch_next: bool = True
    ) -> Job | None:
        """Complete the job; see :meth:`corral.Job.move_to_completed`."""
        return _wrap(
            _call(self.async_job.move_to_completed(return_value, token, fetch_next=fetch_next))
        )

    def move_to_failed(
        self, error: BaseException, token: str | None = None, *, fetch_next: bool = False
    ) -> Job | None:
        """Fail the attempt; see :meth:`corral.Job.move_to_failed`."""
        return _wrap(_call(self.async_job.move_to_failed(error, token, fetch_next=fetch_next)))

    def move_to_wait(self, token: str | None = None) -> float:
        """Put the job back at the front of the line; returns the seconds left on the
        queue's rate limit. See :meth:`corral.Job.move_to_wait`."""
        return _call(self.async_job.move_to_wait(token))

    def extend_lock(self, token: str | None, duration: Duration) -> None:
        """Extend the job's lock; see :meth:`corral.Job.extend_lock`."""
        _call(self.async_job.extend_lock(token, duration))

    def get_state(self) -> JobState:
        """The job's current state."""
        return _call(self.async_job.get_state())

    def update_progress(self, progress: Any) -> None:
        """Report progress; see :meth:`corral.Job.update_progress`."""
        _call(self.async_job.update_progress(progress))

    def log(self, line: str, *, keep: int | None = None) -> int:
        """Append a log line; see :meth:`corral.Job.log`."""
        return _call(self.async_job.log(line, keep=keep))

    def get_logs(self, start: int = 0, end: int = -1) -> list[str]:
        """The job's log lines."""
        return _call(self.async_job.get_logs(start, end))

    def remove(self) -> bool:
        """Remove the job; see :meth:`corral.Job.remove`."""
        return _call(self.async_job.remove())

    def promote(self) -> None:
        """Run a delayed job now."""
        _call(self.async_job.promote())

    def retry(
        self, state: JobState | str = JobState.FAILED, *, reset_attempts: bool = False
    ) -> None:
        """Run a finished job again; see :meth:`corral.Job.retry`."""
        _call(self.async_job.retry(state, reset_attempts=reset_attempts))

    def __repr__(self) -> str:
        return repr(self.async_job)


class _Client:
    _client: _queue.Queue | _worker.Worker | _events.QueueEvents

    @property
    def name(self) -> str:
        """The queue's name."""
        return self._client.name

    @property
    def url(self) -> str:
        """The store's URL, password masked."""
        return self._client.url

    def close(self) -> None:
        """Close the connection to the store."""
        _call(self._client.close())

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"corral.sync.{self._client!r}"


class Queue(_Client):
    """A queue, with blocking methods; see :class:`corral.Queue`."""

    def __init__(self, name: str, *, url: str | None = None, prefix: str = "bull") -> None:
        self._client = self._queue = _queue.Queue(name, url=url, prefix=prefix)

    def add(
        self,
        name: str,
        data: Any = None,
        *,
        job_id: str | None = None,
        delay: Duration = 0,
        priority: int = 0,
        lifo: bool = False,
        attempts: int = 0,
        backoff: Any = None,
        remove_on_complete: Any = None,
        remove_on_fail: Any = None,
        timestamp: Any = None,
    ) -> Job:
        """Add a job; see :meth:`corral.Queue.add`."""
        job = _call(
            self._queue.add(
                name,
                data,
                job_id=job_id,
                delay=delay,
                priority=priority,
                lifo=lifo,
                attempts=attempts,
                backoff=backoff,
                remove_on_complete=remove_on_complete,
                remove_on_fail=remove_on_fail,
                timestamp=timestamp,
            )
        )
        return Job(job)

    def add_bulk(self, jobs: Iterable[Mapping[str, Any]]) -> list[Job]:
        """Add many jobs atomically; see :meth:`corral.Queue.add_bulk`."""
        return [Job(j) for j in _call(self._queue.add_bulk(list(jobs)))]

    def get_job(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        return _wrap(_call(self._queue.get_job(job_id)))

    def get_job_state(self, job_id: str) -> JobState:
        """The job's state."""
        return _call(self._queue.get_job_state(job_id))

    def get_job_counts(self, *states: str) -> dict[str, int]:
        """How many jobs are in each state."""
        return _call(self._queue.get_job_counts(*states))

    def get_jobs(self, *states: str, start: int = 0, end: int = -1) -> list[Job]:
        """Jobs in ``states``; see :meth:`corral.Queue.get_jobs`."""
        return [Job(j) for j in _call(self._queue.get_jobs(*states, start=start, end=end))]

    def get_job_logs(self, job_id: str, start: int = 0, end: int = -1) -> list[str]:
        """A job's log lines."""
        return _call(self._queue.get_job_logs(job_id, start, end))

    def remove(self, job_id: str) -> bool:
        """Remove a job; False if there was none."""
        return _call(self._queue.remove(job_id))

    def rate_limit(self, duration: Duration) -> None:
        """Hand out no job for ``duration`` seconds."""
        _call(self._queue.rate_limit(duration))

    def get_rate_limit_ttl(self) -> float:
        """Seconds left on the rate limit."""
        return _call(self._queue.get_rate_limit_ttl())

    def pause(self) -> None:
        """Stop workers from getting jobs."""
        _call(self._queue.pause())

    def resume(self) -> None:
        """Let workers get jobs again."""
        _call(self._queue.resume())

    def is_paused(self) -> bool:
        """Whether the queue is paused."""
        return _call(self._queue.is_paused())

    def obliterate(self, *, force: bool = False) -> None:
        """Remove the queue and all its jobs; see :meth:`corral.Queue.obliterate`."""
        _call(self._queue.obliterate(force=force))


class Worker(_Client):
    """A worker, with blocking methods; see :class:`corral.Worker`."""

    def __init__(
        self,
        queue_name: str,
        processor: _worker.Processor | None = None,
        *,
        url: str | None = None,
        prefix: str = "bull",
        lock_duration: Duration = 30,
        stalled_interval: Duration = 30,
        max_stalled_count: int = 1,
        drain_delay: Duration = 5,
        limiter: RateLimiter | None = None,
        name: str | None = None,
        backoff_strategy: BackoffStrategy | None = None,
        concurrency: int = 1,
    ) -> None:
        self._client = self._worker = _worker.Worker(
            queue_name,
            processor,
            url=url,
            prefix=prefix,
            lock_duration=lock_duration,
            stalled_interval=stalled_interval,
            max_stalled_count=max_stalled_count,
            drain_delay=drain_delay,
            limiter=limiter,
            name=name,
            backoff_strategy=backoff_strategy,
            concurrency=concurrency,
        )

    @property
    def rate_limited_for(self) -> float:
        """Seconds until the rate limit this worker last saw ends."""
        return self._worker.rate_limited_for

    def get_next_job(self, token: str | None = None, *, block: bool = True) -> Job | None:
        """Fetch the next job and lock it; see :meth:`corral.Worker.get_next_job`."""
        return _wrap(_call(self._worker.get_next_job(token, block=block)))

    def check_stalled_jobs(self) -> list[str]:
        """Run the stalled check once."""
        return _call(self._worker.check_stalled_jobs())

    def start_stalled_check_timer(self) -> None:
        """Check for stalled jobs now and every ``stalled_interval`` until close."""
        _call(self._worker.start_stalled_check_timer())

    def on(self, event: _worker.WorkerEvent, callback: Callable[..., Any]) -> Callable[..., Any]:
        """Call ``callback`` on ``event``; see :meth:`corral.Worker.on`. Callbacks run
        on corral's background loop thread."""
        return self._worker.on(event, callback)

    def run(self, *, handle_signals: bool = False, grace: float | None = 30.0) -> None:
        """Process jobs until :meth:`close` (from another thread) or, with
        ``handle_signals``, until SIGINT/SIGTERM (a second signal stops at once)."""
        restore = _install_sync_signals(self._worker, grace) if handle_signals else None
        try:
            _call(self._worker.run())
        finally:
            if restore is not None:
                restore()

    def close(self, *, grace: float | None = 30.0) -> None:
        """Stop; see :meth:`corral.Worker.close`. Safe to call from another thread."""
        _call(self._worker.close(grace=grace))


def _install_sync_signals(worker: _worker.Worker, grace: float | None) -> Callable[[], None]:
    """SIGINT/SIGTERM in the main thread close ``worker`` on the portal's loop."""
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("handle_signals=True needs run() to be called from the main thread")
    loop = get_portal().loop
    seen = 0

    def handler(signum: int, frame: object) -> None:
        nonlocal seen
        seen += 1
        closing = worker.close(grace=grace) if seen == 1 else worker.close(grace=0)
        asyncio.run_coroutine_threadsafe(closing, loop)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


class QueueEvents(_Client):
    """A queue's events, read with blocking calls; see :class:`corral.QueueEvents`.

    ``for event in events: ...`` blocks between events until :meth:`close`.
    """

    def __init__(
        self,
        queue_name: str,
        *,
        url: str | None = None,
        prefix: str = "bull",
        last_event_id: str | None = None,
        block: Duration = 5,
        batch: int = 100,
    ) -> None:
        self._client = self._events = _events.QueueEvents(
            queue_name,
            url=url,
            prefix=prefix,
            last_event_id=last_event_id,
            block=block,
            batch=batch,
        )

    def __enter__(self) -> Self:
        _call(self._events.__aenter__())
        return self

    @property
    def last_event_id(self) -> str | None:
        """The id of the last event handed out."""
        return self._events.last_event_id

    def read(self, *, block: Duration | None = None) -> list[_events.QueueEvent]:
        """The events since the last read, waiting up to ``block`` seconds for one."""
        return _call(self._events.read(block=block))

    def __iter__(self) -> Iterator[_events.QueueEvent]:
        while not self._events.closed:
            yield from self.read()
