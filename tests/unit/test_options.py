"""Job options: one table names each option, every rule is checked once, and what
is stored is what Node BullMQ writes and reads."""

from __future__ import annotations

import asyncio
import inspect
import json
import math
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from corral import Backoff, Queue, RemovePolicy
from corral.backends.base import KeepJobs
from corral.cli import main
from corral.options import (
    OPTIONS,
    JobOptions,
    Option,
    new_job,
    parse_opts,
    prepare_options,
    to_ms,
)

# A value other than the default for every option of the table: a new option
# without one here fails test_every_option_has_a_sample.
SAMPLES: dict[str, object] = {
    "job_id": "order-7",
    "delay": 1.5,
    "priority": 3,
    "lifo": True,
    "attempts": 4,
    "backoff": Backoff("exponential", 0.25, jitter=0.5),
    "remove_on_complete": 10,
    "remove_on_fail": RemovePolicy(age=60, count=5),
    "timestamp": datetime(2030, 1, 2, tzinfo=UTC),
    "timeout": 2.5,
    "parent": {"id": "p-1", "queue": "bull:parents"},
    "fail_parent_on_failure": True,
    "continue_parent_on_failure": True,
    "ignore_dependency_on_failure": True,
    "remove_dependency_on_failure": True,
    "deduplication": {"id": "user-42", "ttl": 5.0, "extend": True, "replace": True},
}
EXCLUSIVE = (
    "continue_parent_on_failure",
    "ignore_dependency_on_failure",
    "remove_dependency_on_failure",
)
"""At most one failure option at a time: "all options at once" leaves these out."""


def test_every_option_has_a_sample() -> None:
    assert list(SAMPLES) == [row.name for row in OPTIONS]


def test_queue_add_takes_exactly_the_options_of_the_table() -> None:
    params = [
        p for p in inspect.signature(Queue.add).parameters.values() if p.kind is p.KEYWORD_ONLY
    ]
    assert [(p.name, p.default) for p in params] == [(row.name, row.default) for row in OPTIONS]


def test_the_table_and_job_options_describe_the_same_fields() -> None:
    assert [row.attr for row in OPTIONS] == [f.name for f in fields(JobOptions)][:-1]
    unset = JobOptions()
    for row in OPTIONS:
        assert getattr(unset, row.attr) == row.unset, row.name


@pytest.mark.parametrize("row", OPTIONS, ids=lambda row: row.name)
def test_every_option_is_stored_under_its_bullmq_name_and_reads_back(row: Option[Any]) -> None:
    built = JobOptions.build(**{row.name: SAMPLES[row.name]})
    wire = built.to_wire()
    assert row.wire in wire
    assert parse_opts(json.dumps(wire)) == built
    # Its default is the same as not giving it: nothing written but attempts.
    default = JobOptions.build(**{row.name: row.default})
    assert default == JobOptions()
    assert default.to_wire() == {"attempts": 0}


def test_all_options_at_once_round_trip() -> None:
    built = JobOptions.build(**{k: v for k, v in SAMPLES.items() if k not in EXCLUSIVE})
    assert parse_opts(json.dumps(built.to_wire())) == built


def test_defaults_match_node() -> None:
    assert JobOptions.build().to_wire() == {"attempts": 0}
    assert new_job("n", None, {}, now_ms=5).opts == '{"attempts":0}'


def test_wire_form_uses_milliseconds_and_bullmq_names() -> None:
    wire = JobOptions.build(
        job_id="a-1", delay=1.5, priority=3, lifo=True, attempts=3, backoff=2,
        remove_on_complete=True, remove_on_fail=RemovePolicy(age=60, count=10),
        timestamp=1_700_000_000.5,
    ).to_wire()  # fmt: skip
    assert wire == {
        "jobId": "a-1", "delay": 1500, "priority": 3, "lifo": True, "attempts": 3,
        "backoff": {"type": "fixed", "delay": 2000},
        "removeOnComplete": True, "removeOnFail": {"age": 60, "count": 10},
        "timestamp": 1_700_000_000_500,
    }  # fmt: skip


def test_unknown_options_are_refused_naming_the_known_ones() -> None:
    with pytest.raises(TypeError) as caught:
        JobOptions.build(priority=1, prioritee=3, tries=2)
    message = str(caught.value)
    assert "unknown job option(s) ['prioritee', 'tries']" in message
    assert all(row.name in message.split("known:")[1] for row in OPTIONS)
    with pytest.raises(TypeError, match="unknown job option"):
        new_job("x", {}, {"time_out": 5}, now_ms=0)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"job_id": 5}, TypeError, "job_id must be a string"),
        ({"job_id": ""}, ValueError, "job_id must not be empty"),
        ({"job_id": "123"}, ValueError, "job_id '123' must not look like an integer"),
        ({"job_id": "a:b"}, ValueError, "job_id 'a:b' must not contain ':'"),
        ({"delay": -1}, ValueError, "delay must be >= 0"),
        ({"delay": math.nan}, ValueError, "delay must be a finite"),
        ({"delay": 1e300}, ValueError, "delay is too large"),
        ({"delay": "5"}, TypeError, "delay must be a number of seconds"),
        ({"delay": True}, TypeError, "delay must be a number of seconds"),
        ({"delay": None}, TypeError, "delay must be a number of seconds"),
        ({"priority": -1}, ValueError, "priority must be between 0 and 2097151"),
        ({"priority": 2_097_152}, ValueError, "priority must be between 0 and 2097151"),
        ({"priority": 1.0}, TypeError, "priority must be an integer"),
        ({"priority": True}, TypeError, "priority must be an integer"),
        ({"lifo": 1}, TypeError, "lifo must be True or False"),
        ({"attempts": -1}, ValueError, "attempts must be >= 0"),
        ({"attempts": 2.0}, TypeError, "attempts must be an integer"),
        ({"backoff": "soon"}, TypeError, "backoff must be a number of seconds, a Backoff"),
        ({"backoff": True}, TypeError, "backoff must be a number of seconds, a Backoff"),
        ({"backoff": {"kind": "x"}}, ValueError, r"backoff has unknown keys \['kind'\]"),
        ({"backoff": {"delay": -1}}, ValueError, "backoff delay must be >= 0"),
        ({"backoff": {"delay": "1"}}, TypeError, "backoff delay must be a number"),
        ({"backoff": {"type": 3}}, ValueError, "backoff type must be"),
        ({"backoff": {"jitter": 2}}, ValueError, "backoff jitter must be between 0 and 1"),
        ({"backoff": {"jitter": "0.5"}}, TypeError, "backoff jitter must be a number"),
        ({"remove_on_complete": -3}, ValueError, "remove_on_complete must be >= 0"),
        ({"remove_on_complete": "yes"}, TypeError, "remove_on_complete must be True, False"),
        ({"remove_on_fail": -1}, ValueError, "remove_on_fail must be >= 0"),
        ({"remove_on_fail": 1.5}, TypeError, "remove_on_fail must be True, False"),
        ({"timestamp": datetime(2030, 1, 1)}, ValueError, "timestamp must be timezone-aware"),
        ({"timestamp": math.inf}, ValueError, "timestamp must be a finite number"),
        ({"timestamp": -1}, ValueError, "timestamp must be a finite number of epoch seconds"),
        ({"timestamp": "now"}, TypeError, "timestamp must be an aware datetime"),
    ],
)
def test_every_rule_is_refused_with_a_message_naming_the_option(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        JobOptions.build(**options)
    with pytest.raises(error, match=message):
        new_job("x", {}, options, now_ms=0)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: RemovePolicy(), "needs an age, a count, or both"),
        (lambda: RemovePolicy(count=-1), "remove policy count must be >= 0"),
        (lambda: RemovePolicy(age=-1), "remove policy age must be >= 0"),
        (lambda: Backoff("", 1), "backoff type must be"),
    ],
)
def test_option_types_check_themselves(make: Callable[[], object], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        make()


def test_durations_and_times_are_normalised_to_milliseconds() -> None:
    assert JobOptions.build(delay=1.5).delay_ms == 1500
    assert JobOptions.build(delay=timedelta(minutes=2)).delay_ms == 120_000
    assert JobOptions.build(delay=0.0004).delay_ms == 0
    assert JobOptions.build(delay=2).delay == 2.0
    when = datetime(2030, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    assert JobOptions.build(timestamp=when).timestamp_ms == round(when.timestamp() * 1000)
    assert JobOptions.build(timestamp=1.25).timestamp_ms == 1250


def test_every_backoff_form_is_one_backoff_in_milliseconds() -> None:
    forms: list[object] = [2, 2.0, timedelta(seconds=2), {"delay": 2}, Backoff("fixed", 2)]
    backoffs = [JobOptions.build(backoff=form).backoff for form in forms]
    assert all(b == Backoff("fixed", 2) for b in backoffs)
    assert {b.delay_ms for b in backoffs if b is not None} == {2000}
    exp = JobOptions.build(backoff={"type": "exponential", "delay": 0.5, "jitter": 0.1}).backoff
    assert exp == Backoff("exponential", 0.5, 0.1)
    assert JobOptions.build(backoff=None).backoff is None


def test_retention_is_one_keep_jobs_and_reads_as_given() -> None:
    cases: list[tuple[object, KeepJobs, object]] = [
        (None, KeepJobs(), None),
        (False, KeepJobs(), None),
        (True, KeepJobs(count=0), True),
        (0, KeepJobs(count=0), True),
        (7, KeepJobs(count=7), 7),
        (RemovePolicy(age=timedelta(minutes=1)), KeepJobs(age_ms=60_000), RemovePolicy(age=60)),
        (RemovePolicy(age=1.5, count=3), KeepJobs(count=3, age_ms=1500), RemovePolicy(1.5, 3)),
    ]
    for given, keep, reads_as in cases:
        complete = JobOptions.build(remove_on_complete=given)
        assert complete.keep_on_complete == keep, given
        assert complete.remove_on_complete == reads_as, given
        failed = JobOptions.build(remove_on_fail=given)
        assert failed.keep_on_fail == keep, given
        assert failed.remove_on_fail == reads_as, given
        assert failed.keep_on_complete == KeepJobs()


def test_reading_node_options_keeps_unknown_ones_and_writes_them_back() -> None:
    parsed = JobOptions.from_wire(
        {"attempts": 2, "backoff": 1000, "removeOnComplete": 5, "fpof": True, "kl": 10}
    )
    assert parsed.attempts == 2
    assert parsed.backoff == Backoff("fixed", 1.0)
    assert parsed.remove_on_complete == 5
    assert parsed.fail_parent_on_failure
    assert dict(parsed.extra) == {"kl": 10}
    assert parsed.to_wire() == {
        "kl": 10, "attempts": 2,
        "backoff": {"type": "fixed", "delay": 1000}, "removeOnComplete": 5, "fpof": True,
    }  # fmt: skip


def test_unreadable_option_values_are_treated_as_absent() -> None:
    parsed = JobOptions.from_wire(
        {"attempts": "many", "backoff": "soon", "delay": None, "priority": "high", "lifo": 1}
    )
    assert parsed == JobOptions()
    assert JobOptions.from_wire("not a dict") == JobOptions()
    assert parse_opts("[1, 2") == JobOptions()
    assert parse_opts('{"delay": 1e400}').delay_ms == 0


def test_new_job_applies_the_timestamp_default_and_encodes_the_payload() -> None:
    job = new_job("email", {"to": "a"}, {"delay": 2, "priority": 4}, now_ms=1_000)
    assert (job.name, job.data, job.timestamp_ms) == ("email", '{"to":"a"}', 1_000)
    assert (job.delay_ms, job.priority, job.lifo, job.job_id) == (2000, 4, False, None)
    assert json.loads(job.opts) == {"delay": 2000, "priority": 4, "attempts": 0}
    stamped = new_job("e", None, {"timestamp": 3.5, "job_id": "x-1"}, now_ms=1_000)
    assert (stamped.timestamp_ms, stamped.job_id, stamped.data) == (3500, "x-1", "{}")
    with pytest.raises(TypeError, match="job name must be a string"):
        new_job(5, {}, {}, now_ms=0)
    with pytest.raises(TypeError, match="job data must be JSON-encodable"):
        new_job("e", {1, 2}, {}, now_ms=0)


def test_the_same_options_are_checked_and_encoded_once() -> None:
    first = prepare_options({"priority": 1, "attempts": 2})
    assert prepare_options({"priority": 1, "attempts": 2}) is first
    # Equal values of another type are not the same options: 1 == True == 1.0.
    with pytest.raises(TypeError, match="priority must be an integer"):
        prepare_options({"priority": True, "attempts": 2})
    with pytest.raises(TypeError, match="priority must be an integer"):
        prepare_options({"priority": 1.0, "attempts": 2})
    # Unhashable values are checked every time, and still work.
    dict_backoff = {"backoff": {"type": "fixed", "delay": 1}}
    assert prepare_options(dict_backoff)[0].backoff == Backoff("fixed", 1)


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


def test_corral_add_takes_a_flag_for_every_option_the_table_puts_on_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    flags = {
        "--job-id": "cli-1", "--delay": "1.5", "--priority": "2", "--lifo": None,
        "--attempts": "3", "--backoff": "0.5", "--remove-on-complete": "5",
        "--remove-on-fail": "0", "--timeout": "2.5",
    }  # fmt: skip
    assert list(flags) == [row.flag for row in OPTIONS if row.cli is not None]
    argv = ["add", "q", "n", '{"k": 1}', "--url", url]
    for flag, value in flags.items():
        argv += [flag] if value is None else [flag, value]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == "cli-1"

    async def stored() -> JobOptions:
        async with Queue("q", url=url) as queue:
            job = await queue.get_job("cli-1")
            assert job is not None
            return job.opts

    assert asyncio.run(stored()) == JobOptions.build(
        job_id="cli-1", delay=1.5, priority=2, lifo=True, attempts=3, backoff=0.5,
        remove_on_complete=5, remove_on_fail=0, timeout=2.5,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("flag", "value", "status", "message"),
    [
        ("--delay", "soon", 2, "--delay must be a number of seconds, got 'soon'"),
        ("--priority", "1.5", 2, "--priority must be an integer, got '1.5'"),
        ("--remove-on-fail", "all", 2, "--remove-on-fail must be a count, got 'all'"),
        ("--attempts", "-2", 1, "attempts must be >= 0, got -2"),
    ],
)
def test_corral_add_refuses_a_bad_flag_in_one_line_before_opening_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, status: int,
    message: str,
) -> None:  # fmt: skip
    db = tmp_path / "q.db"
    assert main(["add", "q", "n", "{}", "--url", f"sqlite:///{db}", flag, value]) == status
    assert capsys.readouterr().err == f"corral add: error: {message}\n"
    assert not db.exists()
