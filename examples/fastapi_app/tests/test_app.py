"""The shop's web app with a real worker: orders become receipts, results come back."""

from __future__ import annotations

import httpx

from corral import Worker


async def test_an_order_is_enqueued_and_its_result_comes_back(
    client: httpx.AsyncClient, worker: Worker
) -> None:
    placed = await client.post("/orders", json={"order": 7, "email": "ada@example.com"})
    assert placed.status_code == 202
    job_id = placed.json()["job_id"]

    answer = await client.get(f"/jobs/{job_id}", params={"wait": 10})
    assert answer.json() == {
        "job_id": "receipt-7",
        "state": "completed",
        "result": {"order": 7, "sent_to": "ada@example.com"},
        "error": None,
    }


async def test_a_job_that_fails_reports_why(client: httpx.AsyncClient, worker: Worker) -> None:
    placed = await client.post("/orders", json={"order": 8, "email": "nobody"})
    answer = await client.get(f"/jobs/{placed.json()['job_id']}", params={"wait": 10})
    assert answer.json()["state"] == "failed"
    assert "cannot send a receipt to 'nobody'" in answer.json()["error"]


async def test_the_same_order_twice_is_one_job(client: httpx.AsyncClient) -> None:
    first = await client.post("/orders", json={"order": 9, "email": "ada@example.com"})
    second = await client.post("/orders", json={"order": 9, "email": "ada@example.com"})
    assert first.json() == second.json() == {"job_id": "receipt-9"}
    waiting = await client.get("/jobs/receipt-9")
    assert waiting.json()["state"] == "waiting"  # no worker in this test


async def test_without_a_worker_the_wait_ends_with_the_state_so_far(
    client: httpx.AsyncClient,
) -> None:
    placed = await client.post("/orders", json={"order": 10, "email": "ada@example.com"})
    answer = await client.get(f"/jobs/{placed.json()['job_id']}", params={"wait": 0.3})
    assert answer.status_code == 200
    assert answer.json()["state"] == "waiting"


async def test_an_unknown_job_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/jobs/nope")).status_code == 404


async def test_the_dashboard_under_queues_shows_the_shops_queue(client: httpx.AsyncClient) -> None:
    await client.post("/orders", json={"order": 7, "email": "a@example.com"})
    overview = (await client.get("/queues/api/queues")).json()
    assert [(q["name"], q["counts"]["waiting"]) for q in overview["queues"]] == [("shop", 1)]
    page = (await client.get("/queues/api/jobs", params={"queue": "shop"})).json()
    assert [job["id"] for job in page["jobs"]] == ["receipt-7"]
