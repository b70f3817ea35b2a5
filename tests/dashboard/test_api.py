"""The dashboard's JSON API, on both backends: what each page reads and each action does."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from corral import Queue, Worker
from tests.dashboard.conftest import Api, make_api
from tests.support import wait_until


async def failed_job(url: str, prefix: str, queue: str, reason: str = "card declined") -> str:
    """Add a job and fail it for good with ``reason``; returns its id."""
    async with Queue(queue, url=url, prefix=prefix) as q:
        await q.add("charge", {"amount": 5})
    async with Worker(queue, url=url, prefix=prefix, drain_delay=0.1) as worker:
        job = await worker.get_next_job("tok")
        assert job is not None
        await job.log("calling the bank")
        await job.move_to_failed(ValueError(reason), "tok")
        return job.id


async def test_overview_lists_every_queue_with_its_counts(client: Api, url: str, prefix: str):
    async with Queue("emails", url=url, prefix=prefix) as emails:
        await emails.add_bulk([{"name": "send", "data": {"n": i}} for i in range(3)])
        await emails.add("later", delay=60)
        await emails.pause()
    await failed_job(url, prefix, "billing")

    overview = await client.get("/api/queues")

    shown = {q["name"]: q for q in overview["queues"]}
    assert sorted(shown) == ["billing", "emails"]
    assert shown["emails"]["counts"]["waiting"] == 3
    assert shown["emails"]["counts"]["delayed"] == 1
    assert shown["emails"]["paused"] is True
    assert shown["billing"]["counts"]["failed"] == 1
    assert shown["billing"]["paused"] is False


async def test_overview_counts_the_workers_of_each_queue(client: Api, url: str, prefix: str):
    async with Queue("staffed", url=url, prefix=prefix) as q:
        await q.add("j")
        async with Worker("staffed", url=url, prefix=prefix, name="w1") as worker:
            assert await worker.get_next_job("tok") is not None
            await wait_until(q.get_workers, what="the worker listed")
            shown = {s["name"]: s for s in (await client.get("/api/queues"))["queues"]}
            assert shown["staffed"]["workers"] == 1
        shown = {s["name"]: s for s in (await client.get("/api/queues"))["queues"]}
        assert shown["staffed"]["workers"] == 0


async def test_a_list_page_reads_one_page_and_says_how_many_there_are(
    client: Api, url: str, prefix: str
):
    async with Queue("bulk", url=url, prefix=prefix) as q:
        await q.add_bulk([{"name": f"n{i}", "data": i} for i in range(30)])

    first = await client.get("/api/jobs", queue="bulk", state="waiting", size=10)
    second = await client.get("/api/jobs", queue="bulk", state="waiting", size=10, start=10)

    assert first["total"] == 30
    assert [j["id"] for j in first["jobs"]] == [str(i) for i in range(1, 11)]
    assert [j["id"] for j in second["jobs"]] == [str(i) for i in range(11, 21)]


async def test_search_finds_a_job_by_id_in_any_state_or_by_part_of_its_name(
    client: Api, url: str, prefix: str
):
    async with Queue("mixed", url=url, prefix=prefix) as q:
        await q.add("resize-image", {})
        await q.add("send-email", {})
        await q.add("resize-video", {}, delay=30)

    by_id = await client.get("/api/jobs", queue="mixed", state="waiting", search="3")
    by_name = await client.get("/api/jobs", queue="mixed", state="waiting", search="RESIZE")

    assert [(j["id"], j["state"]) for j in by_id["jobs"]] == [("3", "delayed")]
    assert [j["name"] for j in by_name["jobs"]] == ["resize-image"]
    assert by_name["scanned"] == 2


async def test_a_failed_jobs_page_has_its_reason_stack_logs_and_timeline(
    client: Api, url: str, prefix: str
):
    job_id = await failed_job(url, prefix, "billing", reason="card declined")

    job = await client.get("/api/job", queue="billing", id=job_id)

    assert job["state"] == "failed"
    assert job["failed_reason"] == "card declined"
    assert "ValueError: card declined" in job["stacktrace"][-1]
    assert job["logs"] == ["calling the bank"]
    assert job["data"] == {"json": '{\n  "amount": 5\n}'}
    assert job["timestamp"] <= job["processed_on"] <= job["finished_on"]
    assert job["attempts_made"] == 1
    assert job["actions"] == ["retry", "remove"]  # a failed job: nothing to cancel


async def test_a_payload_comes_back_as_the_text_it_is(client: Api, url: str, prefix: str):
    hostile = "<script>window.owned = 1</script><img src=x onerror=alert(1)>"
    async with Queue("hostile", url=url, prefix=prefix) as q:
        job = await q.add(hostile, {"html": hostile})

    page = await client.get("/api/jobs", queue="hostile", state="waiting")
    detail = await client.get("/api/job", queue="hostile", id=job.id)

    assert page["jobs"][0]["name"] == hostile
    assert hostile in detail["data"]["json"]


async def test_a_parent_shows_its_children_and_a_child_its_parent(
    client: Api, url: str, prefix: str
):
    from corral import FlowProducer

    async with FlowProducer(url=url, prefix=prefix) as flows:
        tree = await flows.add(
            {"name": "report", "queue_name": "reports",
             "children": [{"name": "chunk", "queue_name": "chunks", "data": i} for i in range(2)]}
        )  # fmt: skip
    parent = await client.get("/api/job", queue="reports", id=tree.job.id)
    child_id = parent["children"]["unprocessed"][0]["id"]
    child = await client.get("/api/job", queue="chunks", id=child_id)

    assert parent["state"] == "waiting-children"
    assert parent["children"]["counts"]["unprocessed"] == 2
    assert {c["queue"] for c in parent["children"]["unprocessed"]} == {"chunks"}
    assert child["parent"] == {
        "id": tree.job.id, "key": f"{prefix}:reports:{tree.job.id}", "queue": "reports"
    }  # fmt: skip


async def test_retry_moves_a_failed_job_back_to_wait(client: Api, url: str, prefix: str):
    job_id = await failed_job(url, prefix, "billing")

    reply = await client.post("/api/job/retry", {"queue": "billing", "id": job_id})

    assert reply.status_code == 200, reply.text
    assert reply.json()["state"] == "waiting"
    async with Queue("billing", url=url, prefix=prefix) as q:
        assert (await q.get_job_state(job_id)).value == "waiting"


async def test_promote_and_remove(client: Api, url: str, prefix: str):
    async with Queue("later", url=url, prefix=prefix) as q:
        delayed = await q.add("soon", delay=3600)
        other = await q.add("other")

    promoted = await client.post("/api/job/promote", {"queue": "later", "id": delayed.id})
    removed = await client.post("/api/job/remove", {"queue": "later", "id": other.id})
    again = await client.post("/api/job/remove", {"queue": "later", "id": other.id})

    assert promoted.json()["state"] == "waiting"
    assert removed.json()["state"] == "unknown"
    assert again.status_code == 404


async def test_cancel_fails_a_job_not_finished_yet_and_leaves_a_finished_one(
    client: Api, url: str, prefix: str
):
    async with Queue("cancels", url=url, prefix=prefix) as q:
        waiting = await q.add("send")
        detail = await client.get("/api/job", queue="cancels", id=waiting.id)
        cancelled = await client.post("/api/job/cancel", {"queue": "cancels", "id": waiting.id})
        again = await client.post("/api/job/cancel", {"queue": "cancels", "id": waiting.id})
        job = await q.get_job(waiting.id)

    assert "cancel" in detail["actions"]
    assert cancelled.json()["state"] == "failed"
    assert "cancelled" in cancelled.json()["message"]
    assert job is not None
    assert job.failed_reason == "cancelled: from the dashboard"
    assert "nothing to cancel" in again.json()["message"]


async def test_an_action_the_job_is_not_ready_for_is_refused_with_why(
    client: Api, url: str, prefix: str
):
    async with Queue("plain", url=url, prefix=prefix) as q:
        job = await q.add("now")

    reply = await client.post("/api/job/promote", {"queue": "plain", "id": job.id})

    assert reply.status_code == 409
    assert "waiting, not delayed" in reply.json()["error"]


async def test_pause_and_resume_a_queue(client: Api, url: str, prefix: str):
    async with Queue("steer", url=url, prefix=prefix) as q:
        await q.add("x")
        paused = await client.post("/api/queue/pause", {"queue": "steer"})
        assert paused.json()["paused"] is True
        assert await q.is_paused()
        resumed = await client.post("/api/queue/resume", {"queue": "steer"})
        assert resumed.json()["paused"] is False
        assert not await q.is_paused()


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/jobs", {"queue": "q", "state": "nope"}, 400),
        ("/api/jobs", {"queue": "q", "size": "1000"}, 400),
        ("/api/jobs", {"queue": "q", "start": "x"}, 400),
        ("/api/jobs", {"queue": "a:b"}, 400),
        ("/api/jobs", {}, 400),
        ("/api/job", {"queue": "q", "id": "404"}, 404),
    ],
)
async def test_bad_requests_say_what_is_wrong(
    client: Api, path: str, params: dict[str, str], status: int
):
    reply = await client.http.get(path, params=params)
    assert reply.status_code == status
    assert reply.json()["error"]


async def test_an_action_without_the_pages_token_is_refused(client: Api, url: str, prefix: str):
    job_id = await failed_job(url, prefix, "billing")
    body = {"queue": "billing", "id": job_id}

    no_token = await client.http.post("/api/job/retry", json=body)
    wrong = await client.http.post("/api/job/retry", json=body, headers={"x-corral-csrf": "x"})
    cross_site = await client.post("/api/job/retry", body, **{"sec-fetch-site": "cross-site"})
    other_origin = await client.post("/api/job/retry", body, origin="http://evil.example")
    a_form = await client.http.post(
        "/api/job/retry", data=body, headers={"x-corral-csrf": client.csrf}
    )

    assert [r.status_code for r in (no_token, wrong, cross_site, other_origin, a_form)] == [
        403, 403, 403, 403, 415
    ]  # fmt: skip
    async with Queue("billing", url=url, prefix=prefix) as q:
        assert (await q.get_job_state(job_id)).value == "failed"


async def test_a_read_only_dashboard_offers_and_takes_no_action(url: str, prefix: str):
    job_id = await failed_job(url, prefix, "billing")
    api = await make_api(url, prefix, read_only=True)
    try:
        config = await api.get("/api/config")
        job = await api.get("/api/job", queue="billing", id=job_id)
        refused = await api.post("/api/job/retry", {"queue": "billing", "id": job_id})
    finally:
        await api.http.aclose()
        await api.app.state.corral.close()

    assert config["read_only"] is True
    assert config["job_actions"] == config["queue_actions"] == []
    assert job["actions"] == []
    assert refused.status_code == 403
    assert "read-only" in refused.json()["error"]


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_with_credentials_every_request_needs_them(url: str, prefix: str):
    api = await make_api(url, prefix, auth="admin:s3cret", token="t" * 24)
    try:
        anonymous = await api.http.get("/api/queues")
        wrong = await api.http.get("/api/queues", headers={"authorization": _basic("admin", "x")})
        basic = await api.http.get(
            "/api/queues", headers={"authorization": _basic("admin", "s3cret")}
        )
        bearer = await api.http.get("/api/queues", headers={"authorization": "Bearer " + "t" * 24})
        token_as_password = await api.http.get(
            "/metrics", headers={"authorization": _basic("anyone", "t" * 24)}
        )
        page = await api.http.get("/")
    finally:
        await api.http.aclose()
        await api.app.state.corral.close()

    assert anonymous.status_code == wrong.status_code == page.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Basic realm="corral"'
    assert basic.status_code == bearer.status_code == token_as_password.status_code == 200


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"auth": "admin"}, "user:password"),
        ({"auth": ":pw"}, "user:password"),
        ({"token": "short"}, "at least 16"),
        ({"prefix": "a:b"}, "prefix"),
    ],
)
def test_bad_settings_are_refused_before_serving(options: dict[str, Any], problem: str):
    from corral.dashboard import create_app

    with pytest.raises(ValueError, match=problem):
        create_app("sqlite:///unused.db", **options)


async def test_every_answer_carries_the_safe_headers(client: Api):
    page = await client.http.get("/")
    script = await client.http.get("/static/app.js")

    assert page.status_code == script.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"


async def test_the_event_stream_sends_a_queues_events_as_they_happen(url: str, prefix: str):
    from corral.dashboard import create_app
    from corral.dashboard.app import DashboardState

    app = create_app(url, prefix=prefix)
    state: DashboardState = app.state.corral
    try:
        async with Queue("live", url=url, prefix=prefix) as q:
            await q.add("first")  # the queue exists before anyone listens
            async with state.hub.subscribe(["live"]) as inbox:
                added = await q.add("second")
                seen: list[dict[str, object]] = []
                while not any(e["event"] == "added" and e["job_id"] == added.id for e in seen):
                    seen.append(await asyncio.wait_for(inbox.get(), timeout=10))
    finally:
        await state.close()

    assert {"queue": "live", "event": "added", "job_id": added.id} in seen


async def test_bad_action_bodies_and_event_streams_say_what_is_wrong(
    client: Api, url: str, prefix: str
):
    async with Queue("shown", url=url, prefix=prefix) as q:
        await q.add("x")
    headers = {"x-corral-csrf": client.csrf, "content-type": "application/json"}

    not_json = await client.http.post("/api/job/retry", content=b"{", headers=headers)
    not_object = await client.http.post("/api/job/retry", content=b"[1]", headers=headers)
    no_id = await client.post("/api/job/retry", {"queue": "shown"})
    unknown_action = await client.post("/api/job/explode", {"queue": "shown", "id": "1"})
    unknown_queue_action = await client.post("/api/queue/explode", {"queue": "shown"})
    bad_stream = await client.http.get("/api/events", params={"queue": "a:b"})
    too_many = await client.http.get("/api/events", params={"queue": [f"q{i}" for i in range(101)]})
    summary = await client.get("/api/queue", queue="shown")

    assert [r.status_code for r in (not_json, not_object, no_id)] == [400, 400, 400]
    assert "must be JSON" in not_json.json()["error"]
    assert "JSON object" in not_object.json()["error"]
    assert "'id'" in no_id.json()["error"]
    assert unknown_action.status_code == unknown_queue_action.status_code == 400
    assert bad_stream.status_code == too_many.status_code == 400
    assert summary["counts"]["waiting"] == 1


async def test_a_dashboard_of_some_queues_hides_the_others(url: str, prefix: str):
    async with (
        Queue("shown", url=url, prefix=prefix) as a,
        Queue("hidden", url=url, prefix=prefix) as b,
    ):
        await a.add("x")
        await b.add("y")
    api = await make_api(url, prefix, queues=["shown"])
    try:
        overview = await api.get("/api/queues")
        hidden = await api.http.get("/api/jobs", params={"queue": "hidden"})
        stream = await api.http.get("/api/events", params={"queue": "hidden"})
    finally:
        await api.http.aclose()
        await api.app.state.corral.close()

    assert [q["name"] for q in overview["queues"]] == ["shown"]
    assert hidden.status_code == stream.status_code == 404
