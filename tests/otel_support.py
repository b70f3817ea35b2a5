"""The OpenTelemetry SDK for tests: one tracer provider for the whole test process
(OpenTelemetry allows one), its finished spans caught in memory.

Outside the tests that ask for ``spans`` the global propagator carries nothing, so
the jobs other tests add carry no trace context (``tm``), as without a tracer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

try:
    from opentelemetry import propagate, trace
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
except ImportError:  # pragma: no cover - the dev extra installs it
    trace = None  # type: ignore[assignment]

_EXPORTER: InMemorySpanExporter | None = None
_CARRYING = propagate.get_global_textmap() if trace is not None else None
"""The propagator OpenTelemetry configured (W3C trace context and baggage)."""


def _exporter() -> InMemorySpanExporter:
    global _EXPORTER
    if _EXPORTER is None:
        provider = TracerProvider()
        _EXPORTER = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    return _EXPORTER


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The spans corral makes during the test (the SDK's in-memory exporter)."""
    if trace is None:
        pytest.skip("the OpenTelemetry SDK is not installed (pip install -e '.[dev]')")
    exporter = _exporter()
    exporter.clear()
    assert _CARRYING is not None
    propagate.set_global_textmap(_CARRYING)
    try:
        yield exporter
    finally:
        propagate.set_global_textmap(CompositePropagator([]))
        exporter.clear()


def by_name(finished: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    """The one finished span called ``name``."""
    found = [s for s in finished if s.name == name]
    assert len(found) == 1, [s.name for s in finished]
    return found[0]
