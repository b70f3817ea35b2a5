"""The OpenTelemetry SDK for tests: one tracer provider for the whole test process
(OpenTelemetry allows one), its finished spans caught in memory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

try:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
except ImportError:  # pragma: no cover - the dev extra installs it
    trace = None  # type: ignore[assignment]

_EXPORTER: InMemorySpanExporter | None = None


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
    yield exporter
    exporter.clear()


def by_name(finished: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    """The one finished span called ``name``."""
    found = [s for s in finished if s.name == name]
    assert len(found) == 1, [s.name for s in finished]
    return found[0]
