"""The driver of RQ (synchronous, Redis). Its worker runs one job at a time per
process, so there is no concurrency-16 run; ``SimpleWorker`` runs jobs in the
worker process (the default ``Worker`` forks a child per job). No hand-driven
fetch. Results are not kept (``result_ttl=0``)."""

from __future__ import annotations

import logging
import time
from typing import Any

from redis import Redis
from rq import Queue, SimpleWorker

from bench.peers import proto
from bench.peers.proto import Spec

NOOP = "bench.peers.rq_peer.noop"
NOOP_LATENCY = "bench.peers.rq_peer.noop_latency"
LATENCIES: list[float] = []
PROCESSED = [0]


def noop(data: dict[str, Any]) -> None:
    data["i"]
    PROCESSED[0] += 1


def noop_latency(data: dict[str, Any]) -> None:
    started = proto.wall_ms()
    if data["i"] >= 0:
        LATENCIES.append(started - data["t"])


def _queue(spec: Spec) -> Queue:
    return Queue(spec.queue, connection=Redis.from_url(spec.url))


def add_one(spec: Spec) -> dict[str, Any]:
    queue = _queue(spec)
    start = time.perf_counter()
    for i in range(spec.n):
        queue.enqueue(NOOP, proto.payload(i), result_ttl=0)
    return {"elapsed": time.perf_counter() - start}


def add_bulk(spec: Spec) -> dict[str, Any]:
    queue = _queue(spec)
    start = time.perf_counter()
    for first in range(0, spec.n, spec.batch):
        last = min(first + spec.batch, spec.n)
        items = [
            Queue.prepare_data(NOOP, args=(proto.payload(i),), result_ttl=0)
            for i in range(first, last)
        ]
        with queue.connection.pipeline() as pipe:
            queue.enqueue_many(items, pipeline=pipe)
            pipe.execute()
    return {"elapsed": time.perf_counter() - start}


def _worker(queue: Queue) -> SimpleWorker:
    logging.getLogger("rq.worker").setLevel(logging.WARNING)
    return SimpleWorker([queue], connection=queue.connection)


def work(spec: Spec) -> dict[str, Any]:
    queue = _queue(spec)
    worker = _worker(queue)
    start = time.perf_counter()
    worker.work(burst=True, max_jobs=spec.n, logging_level="WARNING")
    elapsed = time.perf_counter() - start
    if PROCESSED[0] != spec.n:
        raise RuntimeError(f"processed {PROCESSED[0]} jobs, expected {spec.n}")
    return {"elapsed": elapsed}


def latency_worker(spec: Spec) -> dict[str, Any]:
    queue = _queue(spec)
    worker = _worker(queue)
    proto.emit({"ready": True})
    worker.work(max_jobs=spec.n + 1, logging_level="WARNING")
    return {"elapsed": 0.0, "latencies": LATENCIES}


def latency_producer(spec: Spec) -> dict[str, Any]:
    queue = _queue(spec)
    for i in range(-1, spec.n):
        queue.enqueue(NOOP_LATENCY, proto.payload(i), result_ttl=0)
        time.sleep(spec.gap_ms / 1000.0)
    return {"elapsed": 0.0}


def main() -> None:
    # RQ imports the job functions by name, as ``bench.peers.rq_peer``: run the
    # handlers of that module, not of ``__main__``, so that they share its globals.
    from bench.peers import rq_peer

    proto.run(
        {
            "add-one": rq_peer.add_one,
            "add-bulk": rq_peer.add_bulk,
            "fill": rq_peer.add_bulk,
            "work": rq_peer.work,
            "latency-worker": rq_peer.latency_worker,
            "latency-producer": rq_peer.latency_producer,
        }
    )


if __name__ == "__main__":
    main()
