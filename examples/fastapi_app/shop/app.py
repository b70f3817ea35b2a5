"""The web app: take orders, enqueue their receipts, report a job's result; the
corral dashboard of the shop's queue is mounted under ``/queues``.

Run it with ``uvicorn shop.app:app`` and the worker with
``corral worker shop.tasks:process --queue shop``; both read ``CORRAL_URL``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, Field

from corral import Connection, Queue, QueueEvents
from corral.dashboard import create_app
from shop.results import ResultWaiter
from shop.tasks import QUEUE


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # One connection for the process: the queue and the event reader share it.
    async with Connection() as connection:
        app.state.queue = Queue(QUEUE, connection=connection)
        app.state.results = ResultWaiter(QueueEvents(QUEUE, connection=connection, block=1))
        # The dashboard shares the connection, so it is mounted once the connection is
        # open (and taken down with it). Put auth= or token= on it outside loopback.
        dashboard = create_app(connection=connection, queues=[QUEUE])
        app.mount("/queues", dashboard)
        await app.state.results.start()
        try:
            yield
        finally:
            await app.state.results.stop()
            app.router.routes[:] = [
                r for r in app.router.routes if getattr(r, "app", None) is not dashboard
            ]
            await dashboard.state.corral.close()


app = FastAPI(title="shop", lifespan=lifespan)


class Order(BaseModel):
    order: int = Field(gt=0)
    email: str


@app.post("/orders", status_code=202)
async def place_order(order: Order, request: Request) -> dict[str, str]:
    """Enqueue the order's receipt and answer at once with the job's id."""
    queue: Queue = request.app.state.queue
    job = await queue.add(
        "send-receipt", order.model_dump(), attempts=3, backoff=1,
        job_id=f"receipt-{order.order}",  # a retried request does not send two receipts
    )  # fmt: skip
    return {"job_id": job.id}


@app.get("/jobs/{job_id}")
async def job_result(job_id: str, request: Request, wait: float = 0) -> dict[str, Any]:
    """The job's state and result; with ``?wait=10``, wait up to 10 s for it to finish."""
    queue: Queue = request.app.state.queue
    if wait > 0:
        await request.app.state.results.wait(queue, job_id, min(wait, 30))
    job = await queue.get_job(job_id)
    if job is None:
        raise HTTPException(status_code=404, detail=f"no job {job_id!r}")
    state = await job.get_state()
    return {
        "job_id": job.id,
        "state": state,
        "result": job.return_value if state == "completed" else None,
        "error": job.failed_reason if state == "failed" else None,
    }
