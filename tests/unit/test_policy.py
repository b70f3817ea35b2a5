"""Retry decisions and backoff: pure functions, no store."""

from __future__ import annotations

import json

import pytest

from corral import Backoff, UnrecoverableError
from corral._policy import (
    MAX_RETRY_DELAY_MS,
    BackoffProblem,
    backoff_delay,
    decide_failure,
    failure_reason,
    failure_stacktrace,
)
from corral.backends.base import Failed, Retry
from corral.options import JobOptions


def opts(**kw: object) -> JobOptions:
    return JobOptions.build(**kw)


def retry_delay(o: JobOptions, attempts_made: int, error: BaseException) -> int | None:
    """The decision's delay: None when the attempt fails for good."""
    decision = decide_failure(o, attempts_made, error, previous_stacktrace=None)
    return decision.delay_ms if isinstance(decision, Retry) else None


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
    with pytest.raises(BackoffProblem, match="needs a custom backoff strategy"):
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


def test_a_decision_is_a_value_the_backend_applies() -> None:
    three = opts(attempts=3, backoff=Backoff("fixed", 2), remove_on_fail=5)
    retry = decide_failure(three, 0, RuntimeError("boom"), previous_stacktrace=None)
    assert isinstance(retry, Retry)
    assert (retry.reason, retry.delay_ms) == ("boom", 2000)
    assert "RuntimeError: boom" in json.loads(retry.stacktrace)[0]
    final = decide_failure(three, 2, RuntimeError("last"), previous_stacktrace=retry.stacktrace)
    assert isinstance(final, Failed)
    assert (final.reason, final.attempts, final.keep.count) == ("last", 3, 5)
    assert len(json.loads(final.stacktrace)) == 2


@pytest.mark.parametrize(
    ("returned", "problem"),
    [
        (float("inf"), "more than"),
        (float("nan"), "NaN"),
        (1e18, "more than"),
        ("soon", "not a number"),
        (True, "not a number"),
    ],
)
def test_a_custom_backoff_that_gives_no_usable_wait_fails_the_job_with_why(
    returned: object, problem: str
) -> None:
    def strategy(attempts: int, kind: str, error: BaseException) -> float:
        return returned  # type: ignore[return-value]

    decision = decide_failure(
        opts(attempts=5, backoff={"type": "custom"}),
        0,
        RuntimeError("boom"),
        previous_stacktrace=None,
        custom=strategy,
    )
    assert isinstance(decision, Failed)
    assert decision.reason.startswith("boom (not retried: ")
    assert problem in decision.reason


def test_a_negative_custom_backoff_means_do_not_retry() -> None:
    decision = decide_failure(
        opts(attempts=5, backoff={"type": "custom"}),
        0,
        RuntimeError("boom"),
        previous_stacktrace=None,
        custom=lambda attempts, kind, error: -1,
    )
    assert isinstance(decision, Failed)
    assert decision.reason == "boom"


def test_an_unknown_backoff_type_without_a_strategy_fails_with_the_fix() -> None:
    decision = decide_failure(
        opts(attempts=5, backoff={"type": "linear"}), 0, RuntimeError("x"), previous_stacktrace=None
    )
    assert isinstance(decision, Failed)
    assert "Worker(..., backoff_strategy=fn)" in decision.reason


def test_exponential_backoff_that_outgrows_the_store_fails_instead_of_overflowing() -> None:
    huge = opts(attempts=2000, backoff=Backoff("exponential", 1))
    decision = decide_failure(huge, 1500, RuntimeError("x"), previous_stacktrace=None)
    assert isinstance(decision, Failed)
    assert str(MAX_RETRY_DELAY_MS // 1000)[:3] in decision.reason.replace(",", "")
