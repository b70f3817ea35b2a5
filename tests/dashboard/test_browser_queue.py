"""The queue-wide actions and the workers page in a real browser (headless
Chromium), on each backend."""

from __future__ import annotations

import time
from typing import Any

import pytest

from corral import sync
from tests.dashboard.conftest import Server, screenshot
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
