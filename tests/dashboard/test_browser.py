"""The dashboard in a real browser (headless Chromium), served by ``corral dashboard``
on each backend: what a person sees and does on its pages."""

from __future__ import annotations

from typing import Any

import pytest

from corral import sync
from tests.dashboard.conftest import Server, screenshot

pytestmark = pytest.mark.slow

WAIT_S = 20


def wait_for(driver: Any, condition: Any, what: str) -> Any:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(condition)
    except TimeoutException:
        raise AssertionError(f"the page never showed {what}: {driver.page_source[:3000]}") from None


def text_of(driver: Any, css: str) -> str | None:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        return str(driver.find_element(By.CSS_SELECTOR, css).text)
    except (NoSuchElementException, StaleElementReferenceException):
        return None


def click(driver: Any, css: str) -> None:
    from selenium.webdriver.common.by import By

    wait_for(driver, lambda d: text_of(d, css) is not None, css)
    driver.find_element(By.CSS_SELECTOR, css).click()


def fail_one(url: str, prefix: str, queue: str, reason: str) -> str:
    with sync.Queue(queue, url=url, prefix=prefix) as q:
        q.add("charge", {"amount": 5})
    with sync.Worker(queue, url=url, prefix=prefix) as worker:
        job = worker.get_next_job("tok")
        assert job is not None
        job.move_to_failed(RuntimeError(reason), "tok")
        return job.id


def test_the_overview_shows_the_queues_and_their_counts(
    browser: Any, server: Server, url: str, prefix: str
):
    with sync.Queue("emails", url=url, prefix=prefix) as emails:
        emails.add_bulk([{"name": "send", "data": {"to": f"u{i}@example.com"}} for i in range(3)])
        emails.add("digest", delay=600)
    fail_one(url, prefix, "billing", "card declined")

    browser.get(server.base + "/")

    cell = 'tr[data-queue="emails"] td[data-state="waiting"]'
    wait_for(browser, lambda d: text_of(d, cell) == "3", "3 waiting emails")
    assert text_of(browser, 'tr[data-queue="emails"] td[data-state="delayed"]') == "1"
    assert text_of(browser, 'tr[data-queue="billing"] td[data-state="failed"]') == "1"
    screenshot(browser, f"overview-{url.partition(':')[0]}")


def test_a_failed_jobs_page_shows_its_reason_and_retrying_it_moves_it(
    browser: Any, server: Server, url: str, prefix: str
):
    job_id = fail_one(url, prefix, "billing", "card declined by the bank")

    browser.get(f"{server.base}/#/job/billing/{job_id}")

    wait_for(browser, lambda d: text_of(d, "#failed-reason") == "card declined by the bank",
             "the failure reason")  # fmt: skip
    assert "RuntimeError: card declined by the bank" in (text_of(browser, "#stacktrace") or "")
    screenshot(browser, f"failed-job-{url.partition(':')[0]}")
    click(browser, 'button[data-action="retry"]')
    click(browser, "#confirm-yes")
    wait_for(browser, lambda d: text_of(d, "#job-state") == "waiting", "the job waiting again")
    with sync.Queue("billing", url=url, prefix=prefix) as q:
        assert q.get_job_state(job_id).value == "waiting"


def test_cancelling_the_confirmation_leaves_the_job_alone(
    browser: Any, server: Server, url: str, prefix: str
):
    job_id = fail_one(url, prefix, "billing", "declined")
    browser.get(f"{server.base}/#/job/billing/{job_id}")

    click(browser, 'button[data-action="remove"]')
    click(browser, "#confirm-no")

    assert text_of(browser, "#job-state") == "failed"
    with sync.Queue("billing", url=url, prefix=prefix) as q:
        assert q.get_job_state(job_id).value == "failed"


def test_a_new_job_appears_without_a_reload(browser: Any, server: Server, url: str, prefix: str):
    with sync.Queue("live", url=url, prefix=prefix) as q:
        q.add("first")
        browser.get(f"{server.base}/#/queue/live/waiting")
        wait_for(browser, lambda d: text_of(d, 'tr[data-job="1"]') is not None, "the first job")
        wait_for(browser, lambda d: text_of(d, "#live") == "live", "the live badge")
        browser.execute_script("window.notReloaded = true")

        added = q.add("second")

        row = f'tr[data-job="{added.id}"]'
        wait_for(browser, lambda d: text_of(d, row) is not None, "the job added after loading")
    assert browser.execute_script("return window.notReloaded") is True


def test_a_hostile_payload_shows_as_text_and_never_runs(
    browser: Any, server: Server, url: str, prefix: str
):
    script = "<script>window.owned = 1</script>"
    image = '<img src=x onerror="window.owned = 2">'
    with sync.Queue("hostile", url=url, prefix=prefix) as q:
        job = q.add(image, {"html": script})

    browser.get(f"{server.base}/#/queue/hostile/waiting")
    wait_for(browser, lambda d: text_of(d, f'tr[data-job="{job.id}"]') is not None, "the job")
    assert image in (text_of(browser, f'tr[data-job="{job.id}"]') or "")
    browser.get(f"{server.base}/#/job/hostile/{job.id}")
    wait_for(browser, lambda d: script in (text_of(d, "#job-data") or ""), "the data as text")

    assert browser.execute_script("return window.owned") is None


def test_a_long_list_pages_and_a_search_finds_by_name(
    browser: Any, server: Server, url: str, prefix: str
):
    with sync.Queue("bulk", url=url, prefix=prefix) as q:
        q.add_bulk([{"name": "resize" if i == 40 else "plain", "data": i} for i in range(60)])

    browser.get(f"{server.base}/#/queue/bulk/waiting")
    wait_for(browser, lambda d: text_of(d, "#pager-range") == "1\u201325 of 60", "the first page")
    browser.get(f"{server.base}/#/queue/bulk/waiting/25")
    wait_for(browser, lambda d: text_of(d, "#pager-range") == "26\u201350 of 60", "the second page")
    browser.get(f"{server.base}/#/queue/bulk/waiting?search=resiz")

    wait_for(browser, lambda d: text_of(d, 'tr[data-job="41"]') is not None, "the job found")
    assert "among the first 60" in (text_of(browser, "#search-note") or "")


def test_cancelling_a_waiting_job_from_its_page_fails_it(
    browser: Any, server: Server, url: str, prefix: str
):
    with sync.Queue("cancels", url=url, prefix=prefix) as q:
        job = q.add("send", {"to": "a@example.com"})
    browser.get(f"{server.base}/#/job/cancels/{job.id}")

    click(browser, 'button[data-action="cancel"]')
    click(browser, "#confirm-yes")

    # The page is drawn again on each of the job's events: wait for what it shows.
    wait_for(browser, lambda d: text_of(d, "#job-state") == "failed", "the job failed")
    reason = "cancelled: from the dashboard"
    wait_for(browser, lambda d: text_of(d, "#failed-reason") == reason, "the cancel's reason")


def test_a_queue_charts_the_jobs_its_workers_counted_per_minute(
    browser: Any, server: Server, url: str, prefix: str
):
    with sync.Queue("counted", url=url, prefix=prefix) as q:
        q.add_bulk([{"name": "n"}] * 3)
    with sync.Worker("counted", url=url, prefix=prefix, metrics=60) as worker:
        for outcome in ("completed", "completed", "failed"):
            job = worker.get_next_job("tok")
            assert job is not None
            if outcome == "completed":
                job.move_to_completed("ok", "tok", fetch_next=False)
            else:
                job.move_to_failed(RuntimeError("no"), "tok")

    browser.get(f"{server.base}/#/queue/counted/completed")

    caption = "#chart figcaption"
    wait_for(browser, lambda d: "2 completed, 1 failed" in (text_of(d, caption) or ""), "the chart")
    screenshot(browser, f"queue-chart-{url.partition(':')[0]}")


def test_a_queues_job_schedulers_have_a_page_and_their_jobs_link_to_it(
    browser: Any, server: Server, url: str, prefix: str
):
    with sync.Queue("reports", url=url, prefix=prefix) as q:
        job = q.upsert_job_scheduler("nightly", cron="0 3 * * *", name="report")

    browser.get(f"{server.base}/#/job/reports/{job.id}")
    wait_for(browser, lambda d: text_of(d, "#job-scheduler") == "nightly", "the scheduler link")
    click(browser, "#job-scheduler a")

    row = 'tr[data-scheduler="nightly"]'
    wait_for(browser, lambda d: "cron 0 3 * * *" in (text_of(d, row) or ""), "the scheduler")
