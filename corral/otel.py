"""OpenTelemetry: a producer span on add, a consumer span around each job, one trace.

With the ``otel`` extra installed (``pip install 'corral[otel]'``, the
``opentelemetry-api`` package) and a tracer provider configured by the
application, corral traces its jobs the way Node BullMQ's telemetry does
(``bullmq-otel``), so one trace runs from a Node producer through a corral worker
and back:

- ``Queue.add`` / ``add_bulk`` open a PRODUCER span ``add <queue>.<name>`` and store
  its context in the job, where BullMQ keeps it: ``opts.telemetry.metadata`` (the
  ``tm`` option on Redis), the JSON of the propagator's carrier, e.g.
  ``{"traceparent": "00-…-…-01"}``.
- ``FlowProducer.add`` opens a PRODUCER span ``addFlow <root queue>`` (``add_bulk``:
  ``addBulkFlows``) and inside it one PRODUCER span ``addNode <queue>`` per job, a
  child of its parent node's span; each job carries its own node span's context.
- A worker runs each job's processor inside a CONSUMER span ``process <queue>``
  whose parent is that context; spans the processor opens (a job it adds, an HTTP
  call) are its children. A failure is recorded on the span.

Attributes follow BullMQ's names (``bullmq.queue.name``, ``bullmq.job.id`` …).
Without the package this module reports :data:`ENABLED` False and corral never
touches it again: no cost. ``CORRAL_OTEL=0`` turns it off with the package
installed.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from corral.backends.base import Backend, FlowEntry, NewJob
    from corral.job import Job

__all__ = [
    "ENABLED",
    "METADATA_OPTION",
    "add_flow",
    "add_jobs",
    "consumer_span",
    "producer_metadata",
    "producer_span",
    "traced",
]

try:
    from opentelemetry import propagate as _propagate
    from opentelemetry import trace as _trace
except ImportError:  # the extra is not installed: nothing here is ever used
    _trace = None  # type: ignore[assignment]

ENABLED: bool = _trace is not None and os.environ.get("CORRAL_OTEL", "1") != "0"
"""Whether corral makes spans: the ``otel`` extra is installed and ``CORRAL_OTEL``
is not ``0``."""

METADATA_OPTION = "tm"
"""The job option (wire name) that carries the producer's trace context: BullMQ's
``telemetry.metadata``."""

TRACER_NAME = "corral"


def _tracer() -> Any:
    from corral._version import __version__

    return _trace.get_tracer(TRACER_NAME, __version__)


@contextmanager
def producer_span(queue: str, name: str, count: int = 1) -> Iterator[str | None]:
    """A PRODUCER span for adding ``count`` jobs named ``name`` to ``queue``; yields
    the metadata to store in each job (None when there is no trace to carry)."""
    operation = "add" if count == 1 else "addBulk"
    destination = f"{queue}.{name}" if count == 1 else queue
    with _tracer().start_as_current_span(
        f"{operation} {destination}", kind=_trace.SpanKind.PRODUCER
    ) as span:
        span.set_attribute("bullmq.queue.name", queue)
        span.set_attribute("bullmq.queue.operation", operation)
        if count == 1:
            span.set_attribute("bullmq.job.name", name)
        else:
            span.set_attribute("bullmq.job.bulk.count", count)
        carrier: dict[str, str] = {}
        _propagate.inject(carrier)
        yield json.dumps(carrier, separators=(",", ":")) if carrier else None


def producer_metadata(opts_json: str, metadata: str | None) -> str:
    """A job's opts JSON text with ``metadata`` as its trace context (unchanged when
    there is none, or when the job already carries one)."""
    if metadata is None:
        return opts_json
    opts = json.loads(opts_json)
    if not isinstance(opts, dict) or METADATA_OPTION in opts or opts.get("omc"):
        return opts_json
    opts[METADATA_OPTION] = metadata
    return json.dumps(opts, separators=(",", ":"))


def _parent(extra: Mapping[str, object]) -> Any:
    metadata = extra.get(METADATA_OPTION)
    if not isinstance(metadata, str):
        return None
    try:
        carrier = json.loads(metadata)
    except ValueError:
        return None
    if not isinstance(carrier, dict):
        return None
    return _propagate.extract({str(k): str(v) for k, v in carrier.items()})


_PROVIDER_ENV = "OTEL_PYTHON_TRACER_PROVIDER"
_provider_from_env: bool | None = None
"""Whether OpenTelemetry is to load a tracer provider named by ``_PROVIDER_ENV``
(read once, at the first look: it names one before the process starts)."""


def _unconfigured() -> bool:
    """Whether no tracer provider is set: spans are not recorded, only carried.

    Asked once per job; ``get_tracer_provider()`` looks the environment up on every
    call while none is set (a few µs a job), so while the API's global holds none and
    the environment names none, the answer is known without it."""
    global _provider_from_env
    if getattr(_trace, "_TRACER_PROVIDER", True) is None:
        if _provider_from_env is None:
            _provider_from_env = _PROVIDER_ENV in os.environ
        if not _provider_from_env:
            return True
    return isinstance(_trace.get_tracer_provider(), _trace.ProxyTracerProvider)


_NO_SPAN = object()
"""What :func:`_consumer_parent` returns when no consumer span is to be made."""


def _consumer_parent(job: Job) -> Any:
    """The context a consumer span of ``job`` is a child of (None: the current one),
    or ``_NO_SPAN``: with no tracer provider set and no producer context in the job,
    the span would be a non-recording copy of the current one, so none is made (it
    cost a no-op job about a third of a worker's time), and what the processor sees
    is the same."""
    try:
        parent = _parent(job.opts.extra)
    except Exception:  # a corrupt job: its span has no parent
        parent = None
    if parent is None and _unconfigured():
        return _NO_SPAN
    return parent


@contextmanager
def consumer_span(job: Job, worker_name: str | None, parent: Any = None) -> Iterator[Any]:
    """A CONSUMER span ``process <queue>`` around one run of ``job``, a child of
    ``parent`` (the context the producer stored in the job, see
    :func:`_consumer_parent`; None: the current context); current while it lasts."""
    with _tracer().start_as_current_span(
        f"process {job.queue_name}",
        context=parent,
        kind=_trace.SpanKind.CONSUMER,
        record_exception=True,
        set_status_on_exception=True,
    ) as span:
        span.set_attribute("bullmq.queue.name", job.queue_name)
        span.set_attribute("bullmq.queue.operation", "process")
        span.set_attribute("bullmq.job.id", job.id)
        span.set_attribute("bullmq.job.name", job.name)
        span.set_attribute("bullmq.job.attempts.made", job.attempts_made)
        if worker_name is not None:
            span.set_attribute("bullmq.worker.name", worker_name)
        yield span


def traced(processor: Callable[[Job], Any], worker_name: str | None) -> Callable[[Job], Any]:
    """``processor`` run inside a consumer span: an ``async def`` stays one, a plain
    function stays plain (it opens its span in the thread it runs in)."""
    if inspect.iscoroutinefunction(processor) or inspect.iscoroutinefunction(
        getattr(processor, "__call__", None)  # noqa: B004 - an object with async __call__
    ):
        run_async: Callable[[Job], Awaitable[Any]] = processor

        @functools.wraps(processor)
        async def traced_async(job: Job) -> Any:
            parent = _consumer_parent(job)
            if parent is _NO_SPAN:
                return await run_async(job)
            with consumer_span(job, worker_name, parent):
                return await run_async(job)

        return traced_async

    @functools.wraps(processor)
    def traced_sync(job: Job) -> Any:
        parent = _consumer_parent(job)
        if parent is _NO_SPAN:
            return processor(job)
        with consumer_span(job, worker_name, parent):
            return processor(job)

    return traced_sync


def _nothing_to_trace() -> bool:
    """No tracer provider is set and no span is current: a producer span would be a
    non-recording one with no context to carry, so none is made."""
    return _unconfigured() and not _trace.get_current_span().get_span_context().is_valid


async def add_jobs(backend: Backend, queue: str, specs: Sequence[NewJob]) -> list[str]:
    """``backend.add_jobs`` inside a producer span, each job carrying its context."""
    if _nothing_to_trace():
        return await backend.add_jobs(queue, specs)
    name = specs[0].name if len({s.name for s in specs}) == 1 else ""
    with producer_span(queue, name, len(specs)) as metadata:
        if metadata is None:
            return await backend.add_jobs(queue, specs)
        carried = [replace(s, opts=producer_metadata(s.opts, metadata)) for s in specs]
        return await backend.add_jobs(queue, carried)


async def add_flow(
    backend: Backend,
    entries: Sequence[FlowEntry],
    parents: Sequence[int | None],
    now_ms: int,
    *,
    bulk: bool,
) -> list[str]:
    """``backend.add_flow`` inside a producer span for the flow (``addFlow``, or
    ``addBulkFlows`` for ``bulk``), with a producer span ``addNode`` per entry.

    ``parents[i]``: the index of entry ``i``'s parent node among ``entries`` (an
    earlier one), None for a root. Each entry carries its node span's context.
    """
    tracer = _tracer()
    roots = [entries[i] for i, parent in enumerate(parents) if parent is None]
    if bulk:
        name, queue = "addBulkFlows", ""
    else:
        name, queue = f"addFlow {roots[0].queue}", roots[0].queue
    with tracer.start_as_current_span(name, kind=_trace.SpanKind.PRODUCER) as span:
        span.set_attribute("bullmq.queue.name", queue)
        span.set_attribute("bullmq.queue.operation", "addBulkFlows" if bulk else "addFlow")
        if bulk:
            span.set_attribute("bullmq.job.bulk.count", len(roots))
            span.set_attribute("bullmq.job.bulk.names", ",".join(r.job.name for r in roots))
        else:
            span.set_attribute("bullmq.flow.name", roots[0].job.name)
        contexts: list[Any] = []
        carried: list[FlowEntry] = []
        for entry, parent in zip(entries, parents, strict=True):
            above = None if parent is None else contexts[parent]
            node = tracer.start_span(
                f"addNode {entry.queue}", context=above, kind=_trace.SpanKind.PRODUCER
            )
            node.set_attribute("bullmq.queue.name", entry.queue)
            node.set_attribute("bullmq.queue.operation", "addNode")
            node.set_attribute("bullmq.job.name", entry.job.name)
            if entry.job.job_id is not None:
                node.set_attribute("bullmq.job.id", entry.job.job_id)
            context = _trace.set_span_in_context(node, above)
            contexts.append(context)
            carrier: dict[str, str] = {}
            _propagate.inject(carrier, context=context)
            metadata = json.dumps(carrier, separators=(",", ":")) if carrier else None
            job = replace(entry.job, opts=producer_metadata(entry.job.opts, metadata))
            carried.append(replace(entry, job=job))
            node.end()
        return await backend.add_flow(carried, now_ms)
