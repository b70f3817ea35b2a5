"""Retry decisions and backoff: pure functions, no store."""

from __future__ import annotations

import json

import pytest

from corral import Backoff, UnrecoverableError
from corral._policy import backoff_delay, failure_reason, failure_stacktrace, retry_delay
from corral.options import JobOptions


def opts(**kw: object) -> JobOptions:
    return JobOptions.build(**kw)


def test_no_attempts_means_no_retry() -> None:
    assert retry_delay(opts(), 0, RuntimeError()) is None
    assert retry_delay(opts(attempts=1), 0, RuntimeError()) is None


def test_retries_while_attempts_remain() -> None:
    three = opts(attempts=3)
    assert retry_delay(three, 0, RuntimeError()) == 0
    assert retry_delay(three, 1, RuntimeError()) == 0
    assert retry_delay(three, 2, RuntimeError()) is None


def test_unrecoverable_never_retries() -> None:
    assert retry_delay(opts(attempts=10), 0, UnrecoverableError("x")) is None


def test_fixed_and_exponential_backoff() -> None:
    assert backoff_delay(Backoff("fixed", 2), 1, RuntimeError()) == 2000
    assert backoff_delay(Backoff("fixed", 2), 5, RuntimeError()) == 2000
    exp = Backoff("exponential", 0.5)
    assert [backoff_delay(exp, n, RuntimeError()) for n in (1, 2, 3, 4)] == [500, 1000, 2000, 4000]
    assert retry_delay(opts(attempts=4, backoff=exp), 2, RuntimeError()) == 2000


def test_jitter_spreads_within_the_window() -> None:
    jittery = Backoff("fixed", 1, jitter=0.5)
    assert backoff_delay(jittery, 1, RuntimeError(), rand=lambda: 0.0) == 500
    assert backoff_delay(jittery, 1, RuntimeError(), rand=lambda: 0.999) == 1000
    assert backoff_delay(jittery, 1, RuntimeError(), rand=lambda: 0.5) == 750


def test_custom_backoff_strategy() -> None:
    custom = Backoff("linear", 0)
    seen: list[tuple[int, str]] = []

    def strategy(attempts: int, kind: str, error: BaseException) -> float | None:
        seen.append((attempts, kind))
        return None if attempts >= 3 else attempts * 1.5

    assert backoff_delay(custom, 2, RuntimeError(), custom=strategy) == 3000
    assert backoff_delay(custom, 3, RuntimeError(), custom=strategy) is None
    assert seen == [(2, "linear"), (3, "linear")]
    with pytest.raises(ValueError, match="needs a custom backoff strategy"):
        backoff_delay(custom, 1, RuntimeError())


def test_stacktrace_keeps_the_newest_ten() -> None:
    trace = None
    for i in range(12):
        try:
            raise ValueError(f"boom {i}")
        except ValueError as error:
            trace = failure_stacktrace(trace, error)
    assert trace is not None
    traces = json.loads(trace)
    assert len(traces) == 10
    assert "boom 11" in traces[-1]
    assert "boom 2" in traces[0]
    assert failure_reason(RuntimeError()) == "RuntimeError"
    assert failure_reason(RuntimeError("why")) == "why"
