"""Job options: their wire form is what Node BullMQ writes and reads."""

from __future__ import annotations

from datetime import timedelta

import pytest

from corral import Backoff, RemovePolicy
from corral.backends.base import KeepJobs
from corral.options import JobOptions, to_ms


def test_defaults_match_node() -> None:
    assert JobOptions.build().to_wire() == {"attempts": 0}


def test_wire_form_uses_milliseconds_and_bullmq_names() -> None:
    wire = JobOptions.build(
        job_id="a-1", delay=1.5, priority=3, lifo=True, attempts=3,
        backoff=2, remove_on_complete=True, remove_on_fail=RemovePolicy(age=60, count=10),
    ).to_wire()  # fmt: skip
    assert wire == {
        "jobId": "a-1", "delay": 1500, "priority": 3, "lifo": True, "attempts": 3,
        "backoff": {"type": "fixed", "delay": 2000},
        "removeOnComplete": True, "removeOnFail": {"age": 60.0, "count": 10},
    }  # fmt: skip


def test_reading_node_options_keeps_unknown_ones() -> None:
    parsed = JobOptions.from_wire(
        {"attempts": 2, "backoff": 1000, "removeOnComplete": 5, "fpof": True, "kl": 10}
    )
    assert parsed.attempts == 2
    assert parsed.backoff == Backoff("fixed", 1.0)
    assert parsed.remove_on_complete == 5
    assert dict(parsed.extra) == {"fpof": True, "kl": 10}
    assert parsed.to_wire()["fpof"] is True


def test_unreadable_option_values_are_treated_as_absent() -> None:
    parsed = JobOptions.from_wire({"attempts": "many", "backoff": "soon", "delay": None})
    assert parsed.attempts == 0
    assert parsed.backoff is None
    assert parsed.delay == 0
    assert JobOptions.from_wire("not a dict").attempts == 0


def test_retention_from_wire() -> None:
    assert JobOptions.build(remove_on_complete=True).keep_on_complete() == KeepJobs(count=0)
    assert JobOptions.build().keep_on_complete() == KeepJobs(count=-1)
    assert JobOptions.build(remove_on_fail=7).keep_on_fail() == KeepJobs(count=7)
    policy = RemovePolicy(age=timedelta(minutes=1))
    assert JobOptions.build(remove_on_fail=policy).keep_on_fail() == KeepJobs(age_ms=60_000)


def test_durations() -> None:
    assert to_ms(1.5, name="d") == 1500
    assert to_ms(timedelta(seconds=2), name="d") == 2000
    with pytest.raises(ValueError, match="d must be >= 0"):
        to_ms(-1, name="d")
    with pytest.raises(ValueError, match="d is too large"):
        to_ms(1e300, name="d")
    with pytest.raises(TypeError, match="d must be a number of seconds"):
        to_ms(True, name="d")
    with pytest.raises(ValueError, match=r"at least 0\.001"):
        to_ms(0.0001, name="d", allow_zero=False)
