"""The dashboard's job schedulers page and a scheduled job's link to its scheduler."""

from __future__ import annotations

from corral import Queue
from tests.dashboard.conftest import Api


async def test_a_queues_schedulers_are_listed_next_run_first(client: Api, url: str, prefix: str):
    async with Queue("reports", url=url, prefix=prefix) as q:
        nightly = await q.upsert_job_scheduler("nightly", cron="0 3 * * *", name="report")
        await q.upsert_job_scheduler("often", every=60, data={"kind": "ping"})

    page = await client.get("/api/schedulers", queue="reports")
    job = await client.get("/api/job", queue="reports", id=nightly.id)

    assert page["total"] == 2
    shown = {s["id"]: s for s in page["schedulers"]}
    assert shown["nightly"]["cron"] == "0 3 * * *"
    assert shown["nightly"]["name"] == "report"
    assert shown["often"]["every_ms"] == 60_000
    assert '"kind": "ping"' in shown["often"]["data"]
    assert page["schedulers"][0]["id"] == "often"  # it runs first
    assert job["scheduler"] == "nightly"


async def test_a_job_of_no_scheduler_names_none(client: Api, url: str, prefix: str):
    async with Queue("plain", url=url, prefix=prefix) as q:
        job = await q.add("once")

    assert (await client.get("/api/job", queue="plain", id=job.id))["scheduler"] is None
