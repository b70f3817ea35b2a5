"""The blocking API: the same Queue, Worker, Job and QueueEvents, for code without an event loop.

```python
from corral.sync import Queue, Worker

with Queue("emails") as queue:
    queue.add("send", {"to": "a@example.com"})

with Worker("emails") as worker:          # driven by hand
    job = worker.get_next_job("tok")
    if job is not None:
        job.move_to_completed("sent", "tok", fetch_next=False)

def send(job):                              # a plain def
    return f"sent to {job.data['to']}"

Worker("emails", send).run(handle_signals=True)   # until Ctrl-C or SIGTERM
```

Every public method, property and attribute of :class:`corral.Queue`,
:class:`corral.Worker`, :class:`corral.Job`, :class:`corral.QueueEvents` and
:class:`corral.FlowProducer` is here under the same name and with the same
signature (a flow's nodes are :class:`FlowNode` objects of blocking jobs). Coroutine methods block
until they are done; those that return jobs return these blocking Jobs.
``async with`` becomes ``with`` and ``async for`` becomes ``for``, with the same
meaning (``with Worker(name, processor)`` processes jobs in the background until
the block ends). The calls run on one background event loop shared by the
process (:mod:`corral._portal`); Ctrl-C interrupts a blocked call and cancels
what it was waiting for. Processors and ``Worker.on`` hooks are the async
worker's: they are handed a :class:`corral.Job`, and async ones run on that
loop. A plain-def processor runs in a thread pool, where ``corral.sync.Job(job)``
gives it the blocking moves (``update_progress``, ``log``, ...).

How the facade is built: each class lists its async twin's public names, one
line per name, through a few typed helpers. ``_blocking(method)`` turns a
coroutine method into a blocking one; ``_blocking_job`` (and its
``_or_none`` and list variants ``_blocking_jobs``) does the same and wraps the
returned ``corral.Job``\\s; ``_direct`` forwards a plain method;
``_attr(cls, lambda x: x.name)`` forwards a property or attribute, and
``_built_from(cls)`` gives a constructor the async constructor's parameters.
Each helper takes the async callable's parameters as a ``ParamSpec``, so a type
checker (and an IDE) sees the real parameter types, and wraps it with
:func:`functools.wraps`, so :func:`inspect.signature` shows the async signature;
no parameter list is written here. Members generated in a loop would be
invisible to type checkers, hence the one line per name; the parity test in
``tests/test_sync.py`` compares every public name and signature of each pair,
so a name added to an async class without its line here fails the suite.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

from corral import connection as _connection
from corral import events as _events
from corral import flows as _flows
from corral import job as _job
from corral import queue as _queue
from corral import worker as _worker
from corral._client import QueueClient
from corral._engine.signals import ShutdownSignals
from corral._portal import get_portal

__all__ = ["Connection", "FlowNode", "FlowProducer", "Job", "Queue", "QueueEvents", "Worker"]

P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")
A = TypeVar("A")
A_co = TypeVar("A_co", covariant=True)
C = TypeVar("C", bound=QueueClient)
C_co = TypeVar("C_co", bound=QueueClient, covariant=True)
S = TypeVar("S")


def _call(coro: Coroutine[Any, Any, T]) -> T:
    return get_portal().call(coro)


class _Facade(Generic[A_co]):
    """A blocking object in front of its async twin (``_wrapped``)."""

    __slots__ = ("_wrapped",)

    def __init__(self, wrapped: A_co) -> None:
        self._wrapped = wrapped


# -- the helpers every forwarded name goes through ------------------------------------


def _blocking(
    method: Callable[Concatenate[A, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[_Facade[A], P], T]:
    """The blocking twin of the coroutine method ``method``."""
    name = method.__name__

    @functools.wraps(method)
    def blocking(self: _Facade[A], /, *args: P.args, **kwargs: P.kwargs) -> T:
        bound: Callable[P, Coroutine[Any, Any, T]] = getattr(self._wrapped, name)
        return _call(bound(*args, **kwargs))

    return blocking


# Typed doors to one implementation (_blocking_converted), one for each kind of result:
# overloads would make a type checker give up (infer Any) on any method with an
# ``Any`` parameter, such as ``Queue.add``.


def _blocking_job(
    method: Callable[Concatenate[A, P], Coroutine[Any, Any, _job.Job]],
) -> Callable[Concatenate[_Facade[A], P], Job]:
    """:func:`_blocking` for a method that returns a ``corral.Job``: the twin returns
    a blocking Job."""
    return _blocking_converted(method, Job)


def _blocking_job_or_none(
    method: Callable[Concatenate[A, P], Coroutine[Any, Any, _job.Job | None]],
) -> Callable[Concatenate[_Facade[A], P], Job | None]:
    """:func:`_blocking_job` for a method that may return None instead."""
    return _blocking_converted(method, lambda job: None if job is None else Job(job))


def _blocking_jobs(
    method: Callable[Concatenate[A, P], Coroutine[Any, Any, list[_job.Job]]],
) -> Callable[Concatenate[_Facade[A], P], list[Job]]:
    """:func:`_blocking_job` for a method that returns a list of jobs."""
    return _blocking_converted(method, lambda jobs: [Job(job) for job in jobs])


def _blocking_flow(
    method: Callable[Concatenate[A, P], Coroutine[Any, Any, _flows.FlowNode]],
) -> Callable[Concatenate[_Facade[A], P], FlowNode]:
    """:func:`_blocking` for a method that returns a flow's node: the twin returns a
    :class:`FlowNode` of blocking jobs."""
    return _blocking_converted(method, FlowNode.of)


def _blocking_flow_or_none(
    method: Callable[Concatenate[A, P], Coroutine[Any, Any, _flows.FlowNode | None]],
) -> Callable[Concatenate[_Facade[A], P], FlowNode | None]:
    """:func:`_blocking_flow` for a method that may return None instead."""
    return _blocking_converted(method, lambda node: None if node is None else FlowNode.of(node))


def _blocking_flows(
    method: Callable[Concatenate[A, P], Coroutine[Any, Any, list[_flows.FlowNode]]],
) -> Callable[Concatenate[_Facade[A], P], list[FlowNode]]:
    """:func:`_blocking_flow` for a method that returns a list of nodes."""
    return _blocking_converted(method, lambda nodes: [FlowNode.of(node) for node in nodes])


def _blocking_converted(
    method: Callable[Concatenate[A, P], Coroutine[Any, Any, R]],
    convert: Callable[[R], T],
) -> Callable[Concatenate[_Facade[A], P], T]:
    """:func:`_blocking`, with the result passed through ``convert``."""
    name = method.__name__

    @functools.wraps(method)
    def blocking(self: _Facade[A], /, *args: P.args, **kwargs: P.kwargs) -> T:
        bound: Callable[P, Coroutine[Any, Any, R]] = getattr(self._wrapped, name)
        return convert(_call(bound(*args, **kwargs)))

    return blocking


def _direct(method: Callable[Concatenate[A, P], T]) -> Callable[Concatenate[_Facade[A], P], T]:
    """A plain (not async) method, called on the async twin in the caller's thread."""
    name = method.__name__

    @functools.wraps(method)
    def direct(self: _Facade[A], /, *args: P.args, **kwargs: P.kwargs) -> T:
        bound: Callable[P, T] = getattr(self._wrapped, name)
        return bound(*args, **kwargs)

    return direct


def _blocking_iter(
    method: Callable[[A], AsyncIterator[T]],
) -> Callable[[_Facade[A]], Iterator[T]]:
    """``__iter__`` from ``__aiter__``: each item is awaited on the portal's loop."""
    name = method.__name__

    @functools.wraps(method)
    def iterate(self: _Facade[A], /) -> Iterator[T]:
        items: AsyncIterator[T] = getattr(self._wrapped, name)()

        async def next_item() -> T:
            return await anext(items)

        try:
            while True:
                try:
                    item = _call(next_item())
                except StopAsyncIteration:
                    return
                yield item
        finally:
            aclose = getattr(items, "aclose", None)
            if aclose is not None:
                _call(aclose())

    return iterate


@overload
def _job_factory(
    method: Callable[Concatenate[Any, P], Coroutine[Any, Any, _job.Job]],
) -> Callable[Concatenate[_Client[Any], P], Job]: ...
@overload
def _job_factory(
    method: Callable[Concatenate[Any, P], _job.Job],
) -> Callable[Concatenate[_Client[Any], P], Job]: ...
def _job_factory(
    method: Callable[Concatenate[Any, P], Any],
) -> Callable[Concatenate[_Client[Any], P], Job]:
    """A classmethod of ``corral.Job`` whose first argument is the Queue or Worker the
    job belongs to: the twin takes the blocking Queue or Worker instead."""

    @functools.wraps(method)
    def factory(owner: _Client[Any], /, *args: P.args, **kwargs: P.kwargs) -> Job:
        if not isinstance(owner, _Client):
            raise TypeError(
                f"{method.__name__}() takes a corral.sync Queue or Worker, not "
                f"{type(owner).__name__}; with an async one use corral.Job.{method.__name__}"
            )
        result = method(owner._wrapped, *args, **kwargs)
        return Job(_call(result) if inspect.iscoroutine(result) else result)

    return factory


class _Attr(Generic[T]):
    """A property or attribute of the async twin, read (and set) through.

    ``get`` reads it; it is a lambda so that a type checker infers the type from
    the async class instead of this module restating it.
    """

    def __init__(self, source: type, get: Callable[[Any], T]) -> None:
        self._source = source
        self._get = get
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name
        found = inspect.getattr_static(self._source, name, None)
        self.__doc__ = (
            found.__doc__
            if isinstance(found, property)
            else f"The :class:`corral.{self._source.__name__}`'s ``{name}``."
        )

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Self: ...
    @overload
    def __get__(self, obj: _Facade[Any], owner: type | None = None) -> T: ...
    def __get__(self, obj: _Facade[Any] | None, owner: type | None = None) -> T | Self:
        if obj is None:
            return self
        return self._get(obj._wrapped)

    def __set__(self, obj: _Facade[Any], value: T) -> None:
        # The async twin decides: a plain attribute takes it, a property refuses.
        setattr(obj._wrapped, self._name, value)


def _attr(source: type[A], get: Callable[[A], T]) -> _Attr[T]:
    """Forward the property or attribute that ``get`` reads from a ``source``."""
    return _Attr(source, get)


def _built_from(
    source: Callable[P, A],
) -> Callable[[Callable[[S, A], None]], Callable[Concatenate[S, P], None]]:
    """Decorate ``__init__(self, wrapped)``: the constructor then takes ``source``'s
    parameters, builds the async twin from them, and hands it to the function."""

    def decorate(init: Callable[[S, A], None]) -> Callable[Concatenate[S, P], None]:
        @functools.wraps(source.__init__)  # the class's own __init__, for inspect.signature
        def __init__(self: S, /, *args: P.args, **kwargs: P.kwargs) -> None:
            init(self, source(*args, **kwargs))

        __init__.__doc__ = init.__doc__
        return __init__

    return decorate


# -- the facade -------------------------------------------------------------------------


class Job(_Facade[_job.Job]):
    """A job, with blocking moves; wraps a :class:`corral.Job` (``async_job``).

    Every attribute reads through to the async job, so it is always current.
    """

    __slots__ = ()

    def __init__(self, job: _job.Job) -> None:
        """Wrap the async job ``job``."""
        super().__init__(job)

    @property
    def async_job(self) -> _job.Job:
        """The :class:`corral.Job` behind this one."""
        return self._wrapped

    from_json = staticmethod(_job_factory(_job.Job.from_json))
    create = staticmethod(_job_factory(_job.Job.create))

    id = _attr(_job.Job, lambda j: j.id)
    name = _attr(_job.Job, lambda j: j.name)
    token = _attr(_job.Job, lambda j: j.token)
    queue_name = _attr(_job.Job, lambda j: j.queue_name)
    data = _attr(_job.Job, lambda j: j.data)
    opts = _attr(_job.Job, lambda j: j.opts)
    return_value = _attr(_job.Job, lambda j: j.return_value)
    progress = _attr(_job.Job, lambda j: j.progress)
    failed_reason = _attr(_job.Job, lambda j: j.failed_reason)
    deferred_failure = _attr(_job.Job, lambda j: j.deferred_failure)
    stacktrace = _attr(_job.Job, lambda j: j.stacktrace)
    processed_by = _attr(_job.Job, lambda j: j.processed_by)
    attempts_made = _attr(_job.Job, lambda j: j.attempts_made)
    attempts_started = _attr(_job.Job, lambda j: j.attempts_started)
    stalled_counter = _attr(_job.Job, lambda j: j.stalled_counter)
    timestamp = _attr(_job.Job, lambda j: j.timestamp)
    processed_on = _attr(_job.Job, lambda j: j.processed_on)
    finished_on = _attr(_job.Job, lambda j: j.finished_on)
    delay = _attr(_job.Job, lambda j: j.delay)
    priority = _attr(_job.Job, lambda j: j.priority)
    queue_qualified_name = _attr(_job.Job, lambda j: j.queue_qualified_name)
    parent = _attr(_job.Job, lambda j: j.parent)
    parent_key = _attr(_job.Job, lambda j: j.parent_key)

    move_to_completed = _blocking_job_or_none(_job.Job.move_to_completed)
    move_to_failed = _blocking_job_or_none(_job.Job.move_to_failed)
    move_to_wait = _blocking(_job.Job.move_to_wait)
    extend_lock = _blocking(_job.Job.extend_lock)
    update_progress = _blocking(_job.Job.update_progress)
    log = _blocking(_job.Job.log)
    get_logs = _blocking(_job.Job.get_logs)
    remove = _blocking(_job.Job.remove)
    promote = _blocking(_job.Job.promote)
    retry = _blocking(_job.Job.retry)
    get_state = _blocking(_job.Job.get_state)
    get_dependencies = _blocking(_job.Job.get_dependencies)
    get_dependencies_count = _blocking(_job.Job.get_dependencies_count)
    get_children_values = _blocking(_job.Job.get_children_values)
    get_ignored_children_failures = _blocking(_job.Job.get_ignored_children_failures)
    get_failed_children_values = _blocking(_job.Job.get_failed_children_values)
    move_to_waiting_children = _blocking(_job.Job.move_to_waiting_children)
    is_waiting_children = _blocking(_job.Job.is_waiting_children)
    change_delay = _blocking(_job.Job.change_delay)
    change_priority = _blocking(_job.Job.change_priority)
    update_data = _blocking(_job.Job.update_data)
    move_to_delayed = _blocking(_job.Job.move_to_delayed)
    wait_until_finished = _blocking(_job.Job.wait_until_finished)
    is_completed = _blocking(_job.Job.is_completed)
    is_failed = _blocking(_job.Job.is_failed)
    is_active = _blocking(_job.Job.is_active)
    is_waiting = _blocking(_job.Job.is_waiting)
    is_delayed = _blocking(_job.Job.is_delayed)
    cancel = _blocking(_job.Job.cancel)
    stop_reason = _attr(_job.Job, lambda j: j.stop_reason)
    is_cancelled = _attr(_job.Job, lambda j: j.is_cancelled)
    raise_if_cancelled = _direct(_job.Job.raise_if_cancelled)
    request_stop = _direct(_job.Job.request_stop)

    def __repr__(self) -> str:
        return repr(self._wrapped)


@dataclass(frozen=True, slots=True)
class FlowNode:
    """A job of a flow (a blocking :class:`Job`) and its child nodes."""

    job: Job
    children: tuple[FlowNode, ...] = ()

    @classmethod
    def of(cls, node: _flows.FlowNode) -> FlowNode:
        """The blocking twin of the async ``corral.FlowNode`` ``node`` (whole tree)."""
        return cls(Job(node.job), tuple(cls.of(child) for child in node.children))


class _Client(_Facade[C_co]):
    """What the blocking Queue, Worker and QueueEvents share, as their async twins do."""

    __slots__ = ()

    name = _attr(QueueClient, lambda c: c.name)
    queue_name = _attr(QueueClient, lambda c: c.queue_name)
    job_mover = _attr(QueueClient, lambda c: c.job_mover)
    prefix = _attr(QueueClient, lambda c: c.prefix)
    url = _attr(QueueClient, lambda c: c.url)
    backend = _attr(QueueClient, lambda c: c.backend)
    closed = _attr(QueueClient, lambda c: c.closed)

    def __enter__(self) -> Self:
        """What ``async with`` does on the async twin; returns this object."""
        _call(self._wrapped.__aenter__())
        return self

    __exit__ = _blocking(QueueClient.__aexit__)

    def __repr__(self) -> str:
        return f"corral.sync.{self._wrapped!r}"


class Queue(_Client[_queue.Queue]):
    """A queue, with blocking methods; takes the parameters of :class:`corral.Queue`."""

    __slots__ = ()

    @_built_from(_queue.Queue)
    def __init__(self, queue: _queue.Queue) -> None:
        """Open the queue; the parameters are :class:`corral.Queue`'s."""
        super().__init__(queue)

    add = _blocking_job(_queue.Queue.add)
    add_bulk = _blocking_jobs(_queue.Queue.add_bulk)
    get_job = _blocking_job_or_none(_queue.Queue.get_job)
    get_jobs = _blocking_jobs(_queue.Queue.get_jobs)
    get_job_state = _blocking(_queue.Queue.get_job_state)
    get_job_counts = _blocking(_queue.Queue.get_job_counts)
    get_job_logs = _blocking(_queue.Queue.get_job_logs)
    remove = _blocking(_queue.Queue.remove)
    rate_limit = _blocking(_queue.Queue.rate_limit)
    get_rate_limit_ttl = _blocking(_queue.Queue.get_rate_limit_ttl)
    pause = _blocking(_queue.Queue.pause)
    resume = _blocking(_queue.Queue.resume)
    is_paused = _blocking(_queue.Queue.is_paused)
    obliterate = _blocking(_queue.Queue.obliterate)
    clean = _blocking(_queue.Queue.clean)
    drain = _blocking(_queue.Queue.drain)
    retry_jobs = _blocking(_queue.Queue.retry_jobs)
    promote_jobs = _blocking(_queue.Queue.promote_jobs)
    trim_events = _blocking(_queue.Queue.trim_events)
    set_global_concurrency = _blocking(_queue.Queue.set_global_concurrency)
    remove_global_concurrency = _blocking(_queue.Queue.remove_global_concurrency)
    get_global_concurrency = _blocking(_queue.Queue.get_global_concurrency)
    set_global_rate_limit = _blocking(_queue.Queue.set_global_rate_limit)
    remove_global_rate_limit = _blocking(_queue.Queue.remove_global_rate_limit)
    get_global_rate_limit = _blocking(_queue.Queue.get_global_rate_limit)
    get_workers = _blocking(_queue.Queue.get_workers)
    default_job_options = _attr(_queue.Queue, lambda q: q.default_job_options)
    upsert_job_scheduler = _blocking_job(_queue.Queue.upsert_job_scheduler)
    get_job_scheduler = _blocking(_queue.Queue.get_job_scheduler)
    get_job_schedulers = _blocking(_queue.Queue.get_job_schedulers)
    get_job_schedulers_count = _blocking(_queue.Queue.get_job_schedulers_count)
    remove_job_scheduler = _blocking(_queue.Queue.remove_job_scheduler)
    get_deduplication_job_id = _blocking(_queue.Queue.get_deduplication_job_id)
    remove_deduplication_key = _blocking(_queue.Queue.remove_deduplication_key)
    get_metrics = _blocking(_queue.Queue.get_metrics)
    close = _blocking(_queue.Queue.close)
    cancel = _blocking(_queue.Queue.cancel)


def _blocking_run(
    method: Callable[Concatenate[_worker.Worker, P], Coroutine[Any, Any, None]],
) -> Callable[Concatenate[Worker, P], None]:
    """``Worker.run`` for blocking code. The portal's loop thread cannot receive
    signals, so with ``handle_signals`` they are taken in the main thread and
    handed to the loop (:meth:`ShutdownSignals.install_in_main_thread`)."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def run(self: Worker, /, *args: P.args, **kwargs: P.kwargs) -> None:
        worker = self._wrapped
        given = signature.bind(worker, *args, **kwargs)
        given.apply_defaults()
        if not given.arguments["handle_signals"]:
            _call(method(*given.args, **given.kwargs))
            return
        given.arguments["handle_signals"] = False  # taken here, not on the loop thread
        signals = ShutdownSignals(lambda grace: worker.close(grace=grace), given.arguments["grace"])
        restore = signals.install_in_main_thread(get_portal().loop)
        try:
            _call(method(*given.args, **given.kwargs))
        finally:
            restore()
        # run() ends before the close a signal started has closed the connection.
        _call(signals.wait_closed())

    return run


class Worker(_Client[_worker.Worker]):
    """A worker, with blocking methods; takes the parameters of :class:`corral.Worker`.

    :meth:`run` blocks until :meth:`close` is called from another thread, or, with
    ``handle_signals`` (from the main thread), until SIGINT/SIGTERM: the first
    finishes running jobs within ``grace``, a second stops at once.
    """

    __slots__ = ()

    @_built_from(_worker.Worker)
    def __init__(self, worker: _worker.Worker) -> None:
        """Make the worker; the parameters are :class:`corral.Worker`'s."""
        super().__init__(worker)

    processor = _attr(_worker.Worker, lambda w: w.processor)
    concurrency = _attr(_worker.Worker, lambda w: w.concurrency)
    lock_duration_ms = _attr(_worker.Worker, lambda w: w.lock_duration_ms)
    stalled_interval_ms = _attr(_worker.Worker, lambda w: w.stalled_interval_ms)
    max_stalled_count = _attr(_worker.Worker, lambda w: w.max_stalled_count)
    drain_delay_ms = _attr(_worker.Worker, lambda w: w.drain_delay_ms)
    limiter = _attr(_worker.Worker, lambda w: w.limiter)
    worker_name = _attr(_worker.Worker, lambda w: w.worker_name)
    rate_limited_for = _attr(_worker.Worker, lambda w: w.rate_limited_for)
    running = _attr(_worker.Worker, lambda w: w.running)
    stopped_at_once = _attr(_worker.Worker, lambda w: w.stopped_at_once)
    backoff_strategy = _attr(_worker.Worker, lambda w: w.backoff_strategy)
    processes = _attr(_worker.Worker, lambda w: w.processes)
    max_jobs_per_child = _attr(_worker.Worker, lambda w: w.max_jobs_per_child)
    max_memory_per_child = _attr(_worker.Worker, lambda w: w.max_memory_per_child)
    kill_grace = _attr(_worker.Worker, lambda w: w.kill_grace)
    timeout_ms = _attr(_worker.Worker, lambda w: w.timeout_ms)
    jobs_in_progress = _attr(_worker.Worker, lambda w: w.jobs_in_progress)
    metrics = _attr(_worker.Worker, lambda w: w.metrics)
    max_started_attempts = _attr(_worker.Worker, lambda w: w.max_started_attempts)

    get_next_job = _blocking_job_or_none(_worker.Worker.get_next_job)
    check_stalled_jobs = _blocking(_worker.Worker.check_stalled_jobs)
    start_stalled_check_timer = _blocking(_worker.Worker.start_stalled_check_timer)
    on = _direct(_worker.Worker.on)
    off = _direct(_worker.Worker.off)
    pause = _blocking(_worker.Worker.pause)
    resume = _blocking(_worker.Worker.resume)
    is_paused = _direct(_worker.Worker.is_paused)
    run = _blocking_run(_worker.Worker.run)
    close = _blocking(_worker.Worker.close)


class QueueEvents(_Client[_events.QueueEvents]):
    """A queue's events, read with blocking calls; takes the parameters of
    :class:`corral.QueueEvents`.

    ``for event in events: ...`` blocks between events until :meth:`close` (from
    another thread); ``with QueueEvents(...)`` fixes the starting point on entry.
    """

    __slots__ = ()

    @_built_from(_events.QueueEvents)
    def __init__(self, events: _events.QueueEvents) -> None:
        """Follow the queue's events; the parameters are :class:`corral.QueueEvents`'s."""
        super().__init__(events)

    last_event_id = _attr(_events.QueueEvents, lambda e: e.last_event_id)

    read = _blocking(_events.QueueEvents.read)
    close = _blocking(_events.QueueEvents.close)
    __iter__ = _blocking_iter(_events.QueueEvents.__aiter__)


class FlowProducer(_Facade[_flows.FlowProducer]):
    """Adds flows with blocking calls; takes the parameters of :class:`corral.FlowProducer`."""

    __slots__ = ()

    @_built_from(_flows.FlowProducer)
    def __init__(self, producer: _flows.FlowProducer) -> None:
        """Open (lazily) the store; the parameters are :class:`corral.FlowProducer`'s."""
        super().__init__(producer)

    prefix = _attr(_flows.FlowProducer, lambda f: f.prefix)
    url = _attr(_flows.FlowProducer, lambda f: f.url)
    backend = _attr(_flows.FlowProducer, lambda f: f.backend)
    closed = _attr(_flows.FlowProducer, lambda f: f.closed)

    add = _blocking_flow(_flows.FlowProducer.add)
    add_bulk = _blocking_flows(_flows.FlowProducer.add_bulk)
    get_flow = _blocking_flow_or_none(_flows.FlowProducer.get_flow)
    close = _blocking(_flows.FlowProducer.close)

    def __enter__(self) -> Self:
        """Returns this producer; :meth:`close` on exit."""
        return self

    __exit__ = _blocking(_flows.FlowProducer.__aexit__)

    def __repr__(self) -> str:
        return f"corral.sync.{self._wrapped!r}"


class Connection(_Facade[_connection.Connection]):
    """A store connection shared by blocking queues, workers and event readers; takes
    the parameters of :class:`corral.Connection`. Pass it as ``connection=``."""

    __slots__ = ()

    @_built_from(_connection.Connection)
    def __init__(self, connection: _connection.Connection) -> None:
        """Open (lazily) the connection; the parameters are :class:`corral.Connection`'s."""
        super().__init__(connection)

    url = _attr(_connection.Connection, lambda c: c.url)
    closed = _attr(_connection.Connection, lambda c: c.closed)
    backend = _direct(_connection.Connection.backend)
    close = _blocking(_connection.Connection.close)

    def __enter__(self) -> Self:
        """Returns this connection; :meth:`close` on exit."""
        return self

    __exit__ = _blocking(_connection.Connection.__aexit__)

    def __repr__(self) -> str:
        return f"corral.sync.{self._wrapped!r}"
