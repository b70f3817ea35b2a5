"""Pure logic of job schedulers and deduplication: checks, the every-slot rule,
reading stored fields leniently, and when an iteration moves its schedule on."""

from __future__ import annotations

import json

import pytest

from corral import Deduplication
from corral._cron import check_pattern, check_zone, next_run_ms
from corral.backends.base import JobRecord, SchedulerRecord
from corral.backends.scheduler_fields import every_next, scheduler_record
from corral.dedup import check_deduplication, dedup_read
from corral.schedulers import JobScheduler, next_iteration, plan_scheduler

NOW = 1_800_000_000_000


def _plan(**kwargs: object) -> object:
    base: dict[str, object] = {
        "every": None, "cron": None, "tz": None, "name": None, "data": None, "limit": None,
        "start": None, "end": None, "immediately": False, "options": {}, "now_ms": NOW,
    }  # fmt: skip
    base.update(kwargs)
    return plan_scheduler("s", **base)  # type: ignore[arg-type]


def test_every_slots_start_catch_up_and_keep_their_offset() -> None:
    assert every_next(None, 1000, NOW + 7, 0, None) == (NOW + 7, 7)
    assert every_next(None, 1000, NOW, 0, NOW + 5000) == (NOW + 5000, 0)
    assert every_next(None, 1000, NOW + 500, 250, None) == (NOW + 1250, 250)
    assert every_next(None, 1000, NOW + 100, 250, None) == (NOW + 250, 250)
    assert every_next(NOW + 250, 1000, NOW + 300, 250, None) == (NOW + 1250, 250)
    # Ten slots late: the next slot after now, on the same grid.
    assert every_next(NOW + 250, 1000, NOW + 10_600, 250, None) == (NOW + 11_250, 250)
    assert every_next(NOW + 250, 1000, NOW + 10_100, 250, None) == (NOW + 10_250, 250)


def test_stored_fields_are_read_leniently() -> None:
    record = scheduler_record("x", 5, {"name": "n", "every": "oops", "limit": "", "ic": "3"})
    assert (record.every_ms, record.limit, record.iteration_count) == (None, None, 3)
    odd = JobScheduler.from_record(SchedulerRecord("x", "n", 5, 1, data="not json"))
    assert odd.data == "not json"
    assert odd.options.attempts == 0


def test_cron_checks_and_aliases() -> None:
    assert check_pattern("@daily") == "0 0 * * *"
    with pytest.raises(ValueError, match="such as"):
        check_pattern("  ")
    with pytest.raises(ValueError, match="IANA"):
        check_zone("")
    assert next_run_ms("0 0 * * *", None, NOW) == 1_800_057_600_000


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"every": 5, "name": 5}, TypeError, "job name must be a string"),
        ({"every": 5, "limit": 1.5}, TypeError, "limit must be an integer"),
        ({"every": 5, "immediately": 1}, TypeError, "True or False"),
        ({"every": 5, "options": {"job_id": "x"}}, TypeError, "unknown scheduler job option"),
        ({"cron": "0 0 1 1 *", "end": NOW / 1000 + 60}, ValueError, "after end"),
        ({"cron": 5}, ValueError, "such as"),
    ],
)
def test_bad_definitions_are_refused(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        _plan(**kwargs)


def _record(job_id: str, opts: object) -> JobRecord:
    return JobRecord(job_id, "n", "{}", opts if isinstance(opts, str) else json.dumps(opts), NOW)


@pytest.mark.parametrize(
    "opts",
    [
        "not json",
        "[1]",
        {"repeat": {"every": 1000}},
        {"repeatJobKey": "s", "repeat": {"every": 1000, "count": 3, "limit": 3}},
        {"repeatJobKey": "s", "repeat": {"every": 1000, "endDate": NOW - 1}},
        {"repeatJobKey": "s", "repeat": {"pattern": "not a pattern"}},
        {"repeatJobKey": "s", "repeat": {"pattern": "0 0 1 1 *", "endDate": NOW + 1000}},
        {"repeatJobKey": "s", "repeat": {"count": 1}},
    ],
)
def test_an_iteration_whose_schedule_ended_adds_nothing(opts: object) -> None:
    assert next_iteration(_record(f"repeat:s:{NOW}", opts), NOW) is None


def test_an_every_iteration_past_the_end_adds_nothing() -> None:
    opts = {"repeatJobKey": "s", "repeat": {"every": 60_000, "endDate": NOW + 30_000}}
    assert next_iteration(_record(f"repeat:s:{NOW}", opts), NOW) is None
    later = {"repeatJobKey": "s", "repeat": {"every": 60_000, "endDate": NOW + 90_000}}
    planned = next_iteration(_record(f"repeat:s:{NOW}", later), NOW)
    assert planned is not None
    assert json.loads(planned[1].opts)["repeat"]["count"] == 1


def test_deduplication_reads_and_checks() -> None:
    rule = Deduplication("d", ttl=2, keep_last_if_active=True)
    assert check_deduplication(rule) == rule
    assert check_deduplication({"id": "d", "keepLastIfActive": True}) == Deduplication(
        "d", keep_last_if_active=True
    )
    with pytest.raises(ValueError, match=r"at least 0\.001"):
        check_deduplication({"id": "d", "ttl": 0.0001})
    assert dedup_read("x") is None
    assert dedup_read({"id": ""}) is None
    assert dedup_read({"id": "d", "ttl": -5}) == Deduplication("d")
