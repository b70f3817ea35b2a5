"""The queue-wide actions and the workers page in a real browser (headless
Chromium), on each backend."""

from __future__ import annotations

import time
from typing import Any

import pytest

from corral import sync
from tests.dashboard.conftest import Server, screenshot, start_dashboard, stop_dashboard
from tests.dashboard.test_browser import click, fail_one, text_of, wait_for

pytestmark = pytest.mark.slow


def test_retry_all_from_the_queue_page_runs_every_failed_job_again(
    browser: Any, server: Server, url: str, prefix: str
):
    first = fail_one(url, prefix, "billing", "card declined")
    second = fail_one(url, prefix, "billing", "card expired")
    browser.get(f"{server.base}/#/queue/billing/failed")
    wait_for(browser, lambda d: text_of(d, f'tr[data-job="{second}"]') is not None, "the failures")

    click(browser, 'button[data-action="retry-all"]')
    assert "every failed job" in (text_of(browser, "#confirm-text") or "")
    click(browser, "#confirm-yes")

    wait_for(browser, lambda d: "2 failed job(s)" in (text_of(d, "#toast") or ""), "the toast")
    tab = '.tabs a[data-state="waiting"]'
    wait_for(browser, lambda d: text_of(d, tab) == "waiting (2)", "two jobs waiting")
    screenshot(browser, f"retry-all-{url.partition(':')[0]}")
    with sync.Queue("billing", url=url, prefix=prefix) as q:
        assert {q.get_job_state(i).value for i in (first, second)} == {"waiting"}


def test_the_workers_page_shows_each_worker_with_its_times(
    browser: Any, server: Server, url: str, prefix: str
):
    with sync.Queue("staffed", url=url, prefix=prefix) as q:
        q.add("j")
    with sync.Worker("staffed", url=url, prefix=prefix, name="mailer-1") as worker:
        assert worker.get_next_job("tok") is not None
        deadline = time.monotonic() + 10
        with sync.Queue("staffed", url=url, prefix=prefix) as q:
            while not q.get_workers() and time.monotonic() < deadline:
                time.sleep(0.05)
        browser.get(f"{server.base}/#/queue/staffed/waiting")
        click(browser, "#workers-link")

        row = "#workers-table tbody tr"
        wait_for(browser, lambda d: "mailer-1" in (text_of(d, row) or ""), "the worker")
        started = browser.execute_script(
            "return document.querySelector(arguments[0] + ' td.started time').dateTime", row
        )
        shown = text_of(browser, f"{row} td.started") or ""
        screenshot(browser, f"workers-{url.partition(':')[0]}")
    # The time is the viewer's local rendering of the worker's start.
    local = browser.execute_script("return new Date(arguments[0]).toLocaleString()", started)
    assert shown == local


def test_drain_with_delayed_ticked_empties_the_waiting_and_delayed_jobs(
    browser: Any, server: Server, url: str, prefix: str
):
    with sync.Queue("busy", url=url, prefix=prefix) as q:
        q.add_bulk([{"name": "n"}] * 3)
        q.add("later", delay=3600)
    browser.get(f"{server.base}/#/queue/busy/waiting")
    wait_for(browser, lambda d: text_of(d, '.tabs a[data-state="waiting"]') == "waiting (3)",
             "three waiting")  # fmt: skip

    click(browser, "#drain-delayed")
    click(browser, 'button[data-action="drain"]')
    assert "waiting and delayed" in (text_of(browser, "#confirm-text") or "")
    click(browser, "#confirm-yes")

    tab = '.tabs a[data-state="delayed"]'
    wait_for(browser, lambda d: text_of(d, tab) == "delayed (0)", "no delayed job left")
    with sync.Queue("busy", url=url, prefix=prefix) as q:
        assert q.get_job_counts("waiting", "delayed") == {"waiting": 0, "delayed": 0}


def test_a_read_only_dashboard_shows_no_queue_action(browser: Any, url: str, prefix: str):
    fail_one(url, prefix, "billing", "declined")
    read_only = start_dashboard(url, "--prefix", prefix, "--read-only")
    try:
        browser.get(f"{read_only.base}/#/queue/billing/failed")
        wait_for(browser, lambda d: text_of(d, "#workers-link") is not None, "the queue page")
        assert text_of(browser, "#queue-actions") is None
        assert text_of(browser, 'button[data-action="pause"]') is None
    finally:
        stop_dashboard(read_only)
