"""The command line on job schedulers: ``corral schedule`` creates one (every or
cron), ``corral schedulers`` lists them, ``corral unschedule`` removes one; bad
input is one clear line and writes nothing."""

from __future__ import annotations

from tests.test_cli import run


def test_schedule_list_and_unschedule(sqlite_url: str) -> None:
    store = ["--url", sqlite_url]
    cron = run(
        "schedule", "reports", "nightly", "report", '{"kind": "daily"}',
        "--cron", "0 3 * * *", "--tz", "Europe/Paris", "--limit", "5", *store,
    )  # fmt: skip
    assert cron.returncode == 0, cron.stderr
    assert cron.stdout.startswith("nightly: next run repeat:nightly:")
    assert "(delayed)" in cron.stdout
    every = run("schedule", "reports", "beat", "ping", "--every", "30", *store)
    assert every.returncode == 0, every.stderr
    assert "(waiting)" in every.stdout
    listing = run("schedulers", "reports", *store)
    assert listing.returncode == 0, listing.stderr
    header, first, second = listing.stdout.splitlines()
    assert header.split() == ["ID", "SCHEDULE", "NEXT", "RUN", "RUNS", "JOB"]
    assert first.split()[:3] == ["beat", "every", "30s"]
    assert second.split()[:7] == ["nightly", "0", "3", "*", "*", "*", "Europe/Paris"]
    assert second.split()[-2:] == ["1/5", "report"]
    removed = run("unschedule", "reports", "beat", *store)
    assert removed.stdout.strip() == "beat: removed"
    again = run("unschedule", "reports", "beat", *store)
    assert again.returncode == 1
    assert "has no job scheduler 'beat'" in again.stderr
    assert "nightly" in run("schedulers", "reports", *store).stdout
    run("unschedule", "reports", "nightly", *store)
    assert run("schedulers", "reports", *store).stdout.strip() == "reports: no job schedulers"


def test_bad_schedules_are_one_clear_line(sqlite_url: str) -> None:
    store = ["--url", sqlite_url]
    bad_cron = run("schedule", "q", "s", "x", "--cron", "99 * * * *", *store)
    assert bad_cron.returncode == 1
    assert "cannot be read" in bad_cron.stderr
    assert "Traceback" not in bad_cron.stderr
    bad_zone = run("schedule", "q", "s", "x", "--cron", "* * * * *", "--tz", "Nowhere", *store)
    assert "unknown time zone 'Nowhere'" in bad_zone.stderr
    both = run("schedule", "q", "s", "x", "--cron", "* * * * *", "--every", "5", *store)
    assert both.returncode == 2
    neither = run("schedule", "q", "s", "x", *store)
    assert neither.returncode == 2
    bad_json = run("schedule", "q", "s", "x", "{nope", "--every", "5", *store)
    assert bad_json.returncode == 2
    assert "data must be JSON" in bad_json.stderr
    assert run("schedulers", "q", *store).stdout.strip() == "q: no job schedulers"
