"""``corral cancel``: cancelling jobs from the command line."""

from __future__ import annotations

from tests.test_cli import run


def test_cancel_fails_waiting_jobs_and_says_what_it_could_not_cancel(sqlite_url: str) -> None:
    store = ["--url", sqlite_url]
    assert run("add", "reports", "build", "{}", "--attempts", "3", *store).returncode == 0
    cancelled = run("cancel", "reports", "1", "404", "--reason", "obsolete", *store)
    assert cancelled.returncode == 1
    assert "job 1: cancelled (it was waiting)" in cancelled.stdout
    assert "job 404: no such job, nothing to cancel" in cancelled.stderr
    assert "1 of 2 job(s) could not be cancelled" in cancelled.stderr
    listing = run("jobs", "reports", "--state", "failed", *store)
    assert "cancelled: obsolete" in listing.stdout
    again = run("cancel", "reports", "1", *store)
    assert again.returncode == 1
    assert "job 1: already failed, nothing to cancel" in again.stderr
