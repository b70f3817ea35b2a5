"""The dashboard's queue-wide actions and its workers page, over plain HTTP on both
backends: what each action does, and that each is refused without the page's
anti-forgery token and on a read-only dashboard."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from corral import Queue, Worker
from tests.dashboard.conftest import Api, make_api

ACTIONS: list[tuple[str, dict[str, Any]]] = [
    ("retry-all", {}),
    ("promote-all", {}),
    ("clean", {"state": "failed", "grace": 0}),
    ("drain", {"delayed": True}),
]


async def finish(url: str, prefix: str, queue: str, outcomes: list[str]) -> list[str]:
    """Add one job per outcome and complete or fail it; returns their ids."""
    async with Queue(queue, url=url, prefix=prefix) as q:
        await q.add_bulk([{"name": "job", "data": i} for i in range(len(outcomes))])
    ids = []
    async with Worker(queue, url=url, prefix=prefix, drain_delay=0.1) as worker:
        for outcome in outcomes:
            job = await worker.get_next_job("tok", block=False)
            assert job is not None
            if outcome == "completed":
                await job.move_to_completed("ok", "tok", fetch_next=False)
            else:
                await job.move_to_failed(RuntimeError("declined"), "tok")
            ids.append(job.id)
    return ids


async def counts(url: str, prefix: str, queue: str) -> dict[str, int]:
    async with Queue(queue, url=url, prefix=prefix) as q:
        return await q.get_job_counts()


async def test_retry_all_runs_every_failed_job_again(client: Api, url: str, prefix: str):
    await finish(url, prefix, "billing", ["failed", "failed", "completed"])

    reply = await client.post("/api/queue/retry-all", {"queue": "billing"})

    assert reply.status_code == 200, reply.text
    assert reply.json()["count"] == 2
    assert reply.json()["counts"]["failed"] == 0
    assert "2 failed job(s)" in reply.json()["message"]
    now = await counts(url, prefix, "billing")
    assert (now["waiting"], now["failed"], now["completed"]) == (2, 0, 1)


async def test_promote_all_runs_every_delayed_job_now(client: Api, url: str, prefix: str):
    async with Queue("later", url=url, prefix=prefix) as q:
        await q.add("a", delay=3600)
        await q.add("b", delay=7200)
        await q.add("now")

    reply = await client.post("/api/queue/promote-all", {"queue": "later"})

    assert reply.json()["count"] == 2
    now = await counts(url, prefix, "later")
    assert (now["waiting"], now["delayed"]) == (3, 0)


async def test_clean_removes_the_jobs_of_a_state_older_than_the_grace(
    client: Api, url: str, prefix: str
):
    await finish(url, prefix, "done", ["completed", "completed", "failed"])

    too_young = await client.post(
        "/api/queue/clean", {"queue": "done", "state": "completed", "grace": "1h"}
    )
    cleaned = await client.post(
        "/api/queue/clean", {"queue": "done", "state": "completed", "grace": 0}
    )

    assert too_young.json()["count"] == 0
    assert cleaned.json()["count"] == 2
    now = await counts(url, prefix, "done")
    assert (now["completed"], now["failed"]) == (0, 1)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"state": "waiting", "grace": 0}, "'state'"),
        ({"state": "failed"}, "'grace'"),
        ({"state": "failed", "grace": "soon"}, "30s, 5m, 1h, 1d"),
        ({"state": "failed", "grace": -1}, "'grace'"),
        ({"state": "failed", "grace": 0, "limit": -1}, "'limit'"),
    ],
)
async def test_a_bad_clean_is_refused_before_anything_is_removed(
    client: Api, url: str, prefix: str, body: dict[str, Any], problem: str
):
    await finish(url, prefix, "done", ["failed"])

    reply = await client.post("/api/queue/clean", {"queue": "done", **body})

    assert reply.status_code == 400
    assert problem in reply.json()["error"]
    assert (await counts(url, prefix, "done"))["failed"] == 1


async def test_drain_removes_the_waiting_jobs_and_with_delayed_the_delayed_too(
    client: Api, url: str, prefix: str
):
    async with Queue("busy", url=url, prefix=prefix) as q:
        await q.add_bulk([{"name": "n"}] * 3)
        await q.add("urgent", priority=1)
        await q.add("later", delay=3600)

    kept = await client.post("/api/queue/drain", {"queue": "busy"})
    after_first = await counts(url, prefix, "busy")
    everything = await client.post("/api/queue/drain", {"queue": "busy", "delayed": True})
    bad = await client.post("/api/queue/drain", {"queue": "busy", "delayed": "yes"})

    assert kept.json()["count"] == 4
    assert (after_first["waiting"], after_first["prioritized"], after_first["delayed"]) == (0, 0, 1)
    assert everything.json()["count"] == 1
    assert (await counts(url, prefix, "busy"))["delayed"] == 0
    assert bad.status_code == 400


@pytest.mark.parametrize(("action", "extra"), ACTIONS, ids=[a for a, _ in ACTIONS])
async def test_each_queue_action_is_refused_without_the_pages_token(
    client: Api, url: str, prefix: str, action: str, extra: dict[str, Any]
):
    await finish(url, prefix, "guarded", ["failed"])
    async with Queue("guarded", url=url, prefix=prefix) as q:
        await q.add("waits")
        await q.add("later", delay=3600)
    before = await counts(url, prefix, "guarded")
    body = {"queue": "guarded", **extra}

    no_token = await client.http.post(f"/api/queue/{action}", json=body)
    cross_site = await client.post(f"/api/queue/{action}", body, **{"sec-fetch-site": "cross-site"})
    other_origin = await client.post(f"/api/queue/{action}", body, origin="http://evil.example")

    assert [r.status_code for r in (no_token, cross_site, other_origin)] == [403, 403, 403]
    assert await counts(url, prefix, "guarded") == before


@pytest.mark.parametrize(("action", "extra"), ACTIONS, ids=[a for a, _ in ACTIONS])
async def test_each_queue_action_is_refused_on_a_read_only_dashboard(
    url: str, prefix: str, action: str, extra: dict[str, Any]
):
    await finish(url, prefix, "guarded", ["failed"])
    async with Queue("guarded", url=url, prefix=prefix) as q:
        await q.add("waits")
        await q.add("later", delay=3600)
    before = await counts(url, prefix, "guarded")
    api = await make_api(url, prefix, read_only=True)
    try:
        config = await api.get("/api/config")
        refused = await api.post(f"/api/queue/{action}", {"queue": "guarded", **extra})
    finally:
        await api.http.aclose()
        await api.app.state.corral.close()

    assert action not in config["queue_actions"]
    assert refused.status_code == 403
    assert "read-only" in refused.json()["error"]
    assert await counts(url, prefix, "guarded") == before


async def test_the_workers_page_lists_the_workers_taking_a_queues_jobs(
    client: Api, url: str, prefix: str
):
    async with Queue("staffed", url=url, prefix=prefix) as q:
        await q.add("j")
    async with Worker("staffed", url=url, prefix=prefix, name="mailer-1") as worker:
        assert await worker.get_next_job("tok", block=False) is not None
        for _ in range(250):
            page = await client.get("/api/workers", queue="staffed")
            if page["workers"]:
                break
            await asyncio.sleep(0.02)
    unknown = await client.http.get("/api/workers", params={"queue": "a:b"})

    (shown,) = page["workers"]
    assert shown["name"] == "mailer-1"
    assert shown["host"]
    assert isinstance(shown["started_at"], int)
    assert shown["started_at"] <= shown["last_seen"]
    assert unknown.status_code == 400
