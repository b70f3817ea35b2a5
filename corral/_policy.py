"""Decisions, as pure functions: should a failed attempt run again, and after how long.

:func:`decide_failure` returns the whole decision as a value, :class:`Failed`
(for good) or :class:`Retry` (with its delay), that a backend applies in one
step. Keeping the decisions here means they are tested without a store and are
the same on every backend.
"""

from __future__ import annotations

import math
import random
import traceback
from collections.abc import Callable

from corral._codec import dumps, escape_surrogates, loads
from corral.backends.base import Failed, Retry
from corral.errors import UnrecoverableError
from corral.options import Backoff, JobOptions

__all__ = [
    "MAX_RETRY_DELAY_MS",
    "STACKTRACE_LIMIT",
    "BackoffStrategy",
    "backoff_delay",
    "decide_failure",
    "failure_reason",
    "failure_stacktrace",
]

BackoffStrategy = Callable[[int, str, BaseException], float | int | None]
"""A custom backoff: ``(attempts_made, backoff_type, error) -> seconds``; None or a
negative number means "do not retry"."""

STACKTRACE_LIMIT = 10
"""How many attempts' stack traces a job keeps (BullMQ's default ``stackTraceLimit``)."""

MAX_RETRY_DELAY_MS = 2**52
"""The longest wait before a retry (about 142,000 years): a due time past it could not
be stored exactly (Redis scores and SQLite integers hold 2**53 exactly)."""


class BackoffProblem(ValueError):
    """A backoff that cannot give a usable wait; the attempt fails for good with the reason."""


def backoff_delay(
    backoff: Backoff | None,
    attempts_made: int,
    error: BaseException,
    *,
    custom: BackoffStrategy | None = None,
    rand: Callable[[], float] = random.random,
) -> int | None:
    """ms to wait before the next attempt, after ``attempts_made`` attempts (≥ 1).

    Returns 0 for an immediate retry and None when the strategy says not to retry.
    Raises :class:`BackoffProblem` for a backoff that cannot give a usable wait.
    """
    if backoff is None:
        return 0
    base = backoff.delay_ms
    if backoff.type == "fixed":
        wait = float(base)
    elif backoff.type == "exponential":
        doublings = attempts_made - 1
        # Past 64 doublings any base exceeds what a due time can hold.
        wait = float(base * 2**doublings) if base == 0 or doublings <= 64 else math.inf
    elif custom is not None:
        seconds = custom(attempts_made, backoff.type, error)
        if seconds is None:
            return None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise BackoffProblem(
                f"the backoff strategy returned {seconds!r}, not a number of seconds"
            )
        if math.isnan(seconds):
            raise BackoffProblem("the backoff strategy returned NaN, not a number of seconds")
        if seconds < 0:
            return None
        wait = seconds * 1000.0
    else:
        raise BackoffProblem(
            f"backoff type {backoff.type!r} needs a custom backoff strategy on the worker "
            "(Worker(..., backoff_strategy=fn))"
        )
    if backoff.jitter and backoff.type in ("fixed", "exponential"):
        wait = wait * (1 - backoff.jitter) + rand() * wait * backoff.jitter
    if not math.isfinite(wait) or wait > MAX_RETRY_DELAY_MS:
        raise BackoffProblem(
            f"the backoff asks to wait {wait / 1000:g} seconds, more than the "
            f"{MAX_RETRY_DELAY_MS // 1000:,} seconds a due time can hold"
        )
    return round(wait)


def decide_failure(
    opts: JobOptions,
    attempts_made: int,
    error: BaseException,
    *,
    previous_stacktrace: str | None,
    custom: BackoffStrategy | None = None,
    retry: bool = True,
) -> Failed | Retry:
    """Decide a failed attempt: :class:`Retry` (with its delay) or :class:`Failed`.

    ``attempts_made`` counts the attempts *before* this failure. A job retries
    while ``attempts_made + 1 < attempts``, unless the error is an
    :class:`UnrecoverableError` or the backoff says not to (or cannot say how long:
    then it fails for good, the problem added to its reason). ``retry=False`` fails
    it for good whatever attempts remain (it was started ``max_started_attempts``
    times).
    """
    reason = failure_reason(error)
    limit = STACKTRACE_LIMIT if opts.stack_trace_limit is None else opts.stack_trace_limit
    stack = failure_stacktrace(previous_stacktrace, error, limit=limit)
    made = attempts_made + 1
    if retry and not isinstance(error, UnrecoverableError) and made < opts.attempts:
        try:
            delay = backoff_delay(opts.backoff, made, error, custom=custom)
        except BackoffProblem as problem:
            reason = f"{reason} (not retried: {problem})"
        else:
            if delay is not None:
                return Retry(reason, stack, delay)
    return Failed(reason, stack, opts.keep_on_fail, opts.attempts)


def failure_stacktrace(
    previous: str | None, error: BaseException, *, limit: int = STACKTRACE_LIMIT
) -> str:
    """The job's stacktrace JSON after this failure: earlier traces plus this one, the
    newest ``limit`` of them (0: none, as BullMQ's ``stackTraceLimit: 0``)."""
    traces: list[str] = []
    if previous:
        try:
            old = loads(previous)
        except ValueError:
            old = []
        if isinstance(old, list):
            traces = [t for t in old if isinstance(t, str)]
    traces.append(escape_surrogates("".join(traceback.format_exception(error)).rstrip()))
    return dumps(traces[-limit:] if limit > 0 else [])


def failure_reason(error: BaseException) -> str:
    """The message stored as ``failed_reason``: the error's text, or its class name."""
    text = escape_surrogates(str(error))
    return text if text else type(error).__name__
