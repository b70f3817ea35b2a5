"""BullMQ's stored forms: retention and backoff as Node writes them, Node's own opts
read back unchanged, and the job hash read strictly where it matters."""

from __future__ import annotations

import dataclasses
import json

import pytest

from corral import Deduplication, RemovePolicy
from corral._wire import backoff_read, backoff_write, keep_read, keep_write, record_from_fields
from corral.backends.base import JobRecord, KeepJobs, ParentLink
from corral.errors import CorruptJobError
from corral.options import JobOptions, new_job, parse_opts


def test_a_whole_retention_age_is_stored_as_an_integer_as_node_stores_it() -> None:
    job = new_job("j", {}, {"remove_on_complete": RemovePolicy(age=3600)}, now_ms=0)
    assert '"removeOnComplete":{"age":3600}' in job.opts
    assert json.loads(job.opts)["removeOnComplete"] == {"age": 3600}
    assert isinstance(json.loads(job.opts)["removeOnComplete"]["age"], int)
    fractional = new_job("j", {}, {"remove_on_fail": RemovePolicy(age=1.5, count=2)}, now_ms=0)
    assert json.loads(fractional.opts)["removeOnFail"] == {"age": 1.5, "count": 2}


@pytest.mark.parametrize(
    ("keep", "stored"),
    [
        (KeepJobs(count=0), True),
        (KeepJobs(count=25), 25),
        (KeepJobs(age_ms=60_000), {"age": 60}),
        (KeepJobs(count=5, age_ms=90_500), {"age": 90.5, "count": 5}),
        (KeepJobs(), False),
    ],
)
def test_retention_is_written_in_nodes_forms_and_reads_back(keep: KeepJobs, stored: object) -> None:
    assert keep_write(keep) == stored
    assert keep_read(json.loads(json.dumps(stored))) == keep


@pytest.mark.parametrize(
    ("stored", "keep"),
    [
        (True, KeepJobs(count=0)),
        (False, KeepJobs()),
        (3, KeepJobs(count=3)),
        (3.0, KeepJobs(count=3)),
        (-1, KeepJobs()),
        ({"count": 4}, KeepJobs(count=4)),
        ({"age": 0.25}, KeepJobs(age_ms=250)),
        ({"age": "x", "count": None}, KeepJobs()),
        ("yes", None),
        (None, None),
    ],
)
def test_retention_reads_what_node_may_have_written(stored: object, keep: KeepJobs | None) -> None:
    assert keep_read(stored) == keep


def test_backoff_forms() -> None:
    assert backoff_write("fixed", 200, 0.0) == {"type": "fixed", "delay": 200}
    assert backoff_write("exponential", 150, 0.5) == {
        "type": "exponential", "delay": 150, "jitter": 0.5,
    }  # fmt: skip
    assert backoff_read(1000) == ("fixed", 1000, 0.0)
    assert backoff_read({"delay": 1000, "type": "fixed"}) == ("fixed", 1000, 0.0)
    assert backoff_read({"type": "custom"}) == ("custom", 0, 0.0)
    assert backoff_read({"type": "exponential", "delay": 5, "jitter": 0.3}) == (
        "exponential", 5, 0.3,
    )  # fmt: skip
    for unreadable in ("soon", True, None, {"type": ""}, {"delay": "1"}, {"jitter": 3}):
        assert backoff_read(unreadable) is None, unreadable


@pytest.mark.parametrize(
    "stored",
    [
        # As Node BullMQ 6 stores them (observed).
        '{"attempts":0}',
        '{"delay":60000,"attempts":0}',
        '{"priority":5,"attempts":0}',
        '{"removeOnComplete":true,"lifo":true,"attempts":3}',
        '{"backoff":{"delay":1000,"type":"fixed"},"attempts":3}',
        '{"de":{"id":"d1","ttl":600000},"kl":100,"fpof":true,"attempts":0}',
        '{"removeOnFail":{"age":3600,"count":10},"jobId":"order-1","attempts":2}',
    ],
)
def test_options_node_wrote_are_written_back_as_node_wrote_them(stored: str) -> None:
    assert parse_opts(stored).to_wire() == json.loads(stored)


def test_node_options_read_as_corral_options() -> None:
    opts = parse_opts(
        '{"de":{"id":"d1","ttl":600000},"delay":60000,"priority":5,"lifo":true,'
        '"backoff":{"delay":1000,"type":"exponential"},"removeOnFail":{"age":3600},"attempts":3}'
    )
    assert (opts.delay, opts.priority, opts.lifo, opts.attempts) == (60.0, 5, True, 3)
    assert opts.backoff is not None
    assert (opts.backoff.type, opts.backoff.delay_ms) == ("exponential", 1000)
    assert opts.keep_on_fail == KeepJobs(age_ms=3_600_000)
    assert opts.remove_on_fail == RemovePolicy(age=3600)
    assert opts.deduplication == Deduplication("d1", ttl=600.0)
    assert opts.extra == {}
    assert JobOptions.from_wire({"removeOnComplete": False}).keep_on_complete == KeepJobs()


def test_job_hash_reads_node_and_legacy_field_names() -> None:
    record = record_from_fields(
        "7",
        {
            "name": "n", "data": '{"a":1}', "opts": '{"attempts":2}', "timestamp": "1000",
            "delay": "0", "priority": "3", "attemptsMade": "2", "ats": "3",
            "stalledCounter": "1", "processedOn": "1500", "pb": "w1", "defa": "why",
        },
    )  # fmt: skip
    assert (record.id, record.name, record.data, record.opts) == (
        "7",
        "n",
        '{"a":1}',
        '{"attempts":2}',
    )
    assert (record.timestamp_ms, record.priority, record.processed_on_ms) == (1000, 3, 1500)
    assert (record.attempts_made, record.attempts_started, record.stalled_counter) == (2, 3, 1)
    assert (record.finished_on_ms, record.processed_by, record.deferred_failure) == (
        None,
        "w1",
        "why",
    )
    bare = record_from_fields("8", {})
    assert (bare.name, bare.data, bare.opts, bare.timestamp_ms, bare.delay_ms) == (
        "",
        "{}",
        "{}",
        0,
        0,
    )


def test_a_job_read_from_its_hash_is_the_record_its_fields_make() -> None:
    """The record read on every fetch equals, hashes and stays frozen as one built
    field by field, so nothing can tell how it was made."""
    fields = {
        "name": "n", "data": "{}", "opts": "{}", "timestamp": "10", "delay": "5",
        "priority": "1", "progress": "7", "atm": "1", "ats": "2", "stc": "0",
        "processedOn": "20", "finishedOn": "30", "returnvalue": "9", "failedReason": "r",
        "stacktrace": "[]", "defa": "d", "pb": "w", "parentKey": "bull:p:1",
    }  # fmt: skip
    read = record_from_fields("3", fields)
    built = JobRecord(
        "3", "n", "{}", "{}", 10, 5, 1, "7", 1, 2, 0, 20, 30, "9", "r", "[]", "d", "w",
        ParentLink("bull:p", "1"),
    )  # fmt: skip
    assert read == built
    assert hash(read) == hash(built)
    assert repr(read) == repr(built)
    with pytest.raises(dataclasses.FrozenInstanceError):
        read.name = "other"  # type: ignore[misc]


def test_job_hash_accepts_integers_written_as_floats() -> None:
    record = record_from_fields("1", {"timestamp": "1000.0", "atm": "2", "finishedOn": "5e3"})
    assert (record.timestamp_ms, record.attempts_made, record.finished_on_ms) == (1000, 2, 5000)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"timestamp": "soon"}, "timestamp"),
        ({"delay": "1.5"}, "delay"),
        ({"atm": "inf"}, "atm"),
        ({"processedOn": "x"}, "processedOn"),
    ],
)
def test_a_corrupt_number_in_the_job_hash_is_reported_by_field(
    fields: dict[str, str], field: str
) -> None:
    with pytest.raises(CorruptJobError) as caught:
        record_from_fields("9", fields)
    assert (caught.value.job_id, caught.value.field) == ("9", field)
