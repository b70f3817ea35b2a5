"""Decisions, as pure functions: should a failed attempt run again, and after how long.

Backends never decide; they apply what these functions return. Keeping the
decisions here means they are tested without a store and are the same on
every backend.
"""

from __future__ import annotations

import random
import traceback
from collections.abc import Callable

from corral._codec import dumps, loads
from corral.errors import UnrecoverableError
from corral.options import Backoff, JobOptions

__all__ = ["BackoffStrategy", "backoff_delay", "failure_stacktrace", "retry_delay"]

BackoffStrategy = Callable[[int, str, BaseException], float | int | None]
"""A custom backoff: ``(attempts_made, backoff_type, error) -> seconds``; None or a
negative number means "do not retry"."""

STACKTRACE_LIMIT = 10
"""How many attempts' stack traces a job keeps (BullMQ's default ``stackTraceLimit``)."""


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
    """
    if backoff is None:
        return 0
    base = backoff.delay_ms
    if backoff.type == "fixed":
        wait = float(base)
    elif backoff.type == "exponential":
        wait = float(2 ** (attempts_made - 1) * base)
    elif custom is not None:
        seconds = custom(attempts_made, backoff.type, error)
        if seconds is None or seconds < 0:
            return None
        return round(seconds * 1000)
    else:
        raise ValueError(
            f"backoff type {backoff.type!r} needs a custom backoff strategy on the worker "
            "(Worker(..., backoff_strategy=fn))"
        )
    if backoff.jitter:
        wait = wait * (1 - backoff.jitter) + rand() * wait * backoff.jitter
    return round(wait)


def retry_delay(
    opts: JobOptions,
    attempts_made: int,
    error: BaseException,
    *,
    custom: BackoffStrategy | None = None,
) -> int | None:
    """Decide a failure: None to fail for good, else the ms before the next attempt.

    ``attempts_made`` counts the attempts *before* this failure. A job retries
    while ``attempts_made + 1 < attempts``, unless the error is an
    :class:`UnrecoverableError`.
    """
    if isinstance(error, UnrecoverableError):
        return None
    made = attempts_made + 1
    if made >= opts.attempts:
        return None
    return backoff_delay(opts.backoff, made, error, custom=custom)


def failure_stacktrace(previous: str | None, error: BaseException) -> str:
    """The job's stacktrace JSON after this failure: earlier traces plus this one."""
    traces: list[str] = []
    if previous:
        try:
            old = loads(previous)
        except ValueError:
            old = []
        if isinstance(old, list):
            traces = [t for t in old if isinstance(t, str)]
    traces.append("".join(traceback.format_exception(error)).rstrip())
    return dumps(traces[-STACKTRACE_LIMIT:])


def failure_reason(error: BaseException) -> str:
    """The message stored as ``failed_reason``: the error's text, or its class name."""
    text = str(error)
    return text if text else type(error).__name__
