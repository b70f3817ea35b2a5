"""The Celery app of ``python -m bench.cpu``: one task, the same loop as every contender."""

from __future__ import annotations

import os

from celery import Celery

from bench.cpu_jobs import timed_burn

app = Celery("bench_cpu", broker=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:1/0"))
app.conf.update(
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="burn")
def burn(k: int) -> int:
    return timed_burn(k)
