"""The arq side of the arq → corral side-by-side example (``main`` runs it on ``url``)."""

import asyncio
import sys
from typing import Any

from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker


# --8<-- [start:arq]
async def send_receipt(ctx: dict[str, Any], order_id: int, email: str) -> str:
    return f"receipt for order {order_id} sent to {email}"


async def place_order(settings: RedisSettings) -> str:
    redis = await create_pool(settings)
    job = await redis.enqueue_job("send_receipt", 42, "ada@example.com")
    assert job is not None
    worker = Worker(functions=[send_receipt], redis_settings=settings, burst=True)
    await worker.async_run()  # usually: `arq app.WorkerSettings`
    result = await job.result(timeout=10)
    await redis.aclose()
    return str(result)


# --8<-- [end:arq]


def main(url: str) -> None:
    print(asyncio.run(place_order(RedisSettings.from_dsn(url))))


if __name__ == "__main__":
    main(sys.argv[1])
