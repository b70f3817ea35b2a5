"""The child processes of the chaos tests: workers and producers that leave a record.

Run as ``python -m tests.chaos.agent ROLE CONFIG_JSON`` (see :func:`main`); the
processor :func:`process` is also run by the real command line,
``corral worker tests.chaos.agent:process``, with the record folder in
``$CORRAL_CHAOS_DIR``.

Every process appends JSON lines to ``<dir>/<pid>.log``, each written with one
``write`` and fsync'd before the work goes on: a job's ``run`` line is on disk
before its work starts, so a process killed with SIGKILL leaves a trace of every
job it started. Line kinds: ``run`` (an execution: job, token), ``done`` (a
completion the store accepted), ``refused`` (a completion the store refused),
``error`` (the worker's ``error`` hook), ``add`` / ``add_error`` (a producer's
acknowledged / failed add; ``add`` also says when the call ``started``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from corral import Job, Queue, UnrecoverableError, Worker
from corral.errors import BackendError, LockError

DIR_ENV = "CORRAL_CHAOS_DIR"


class Recorder:
    """Appends fsync'd JSON lines to ``<directory>/<pid>.log``."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.pid = os.getpid()
        path = directory / f"{self.pid}.log"
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, kind: str, **fields: Any) -> None:
        line = json.dumps({"kind": kind, "pid": self.pid, "t": time.time(), **fields}) + "\n"
        os.write(self.fd, line.encode())
        os.fsync(self.fd)


_recorder: Recorder | None = None


def recorder() -> Recorder:
    global _recorder
    if _recorder is None or _recorder.pid != os.getpid():
        _recorder = Recorder(Path(os.environ[DIR_ENV]))
    return _recorder


def read_records(directory: Path) -> list[dict[str, Any]]:
    """Every line every process wrote, file after file."""
    records: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.log")):
        text = path.read_text()
        # One write per line: even a SIGKILL leaves whole lines only.
        assert not text or text.endswith("\n"), f"{path} ends with a partial line"
        records += [json.loads(line) for line in text.splitlines()]
    return records


def result_for(job: Job) -> dict[str, Any]:
    """What a chaos job returns: its answer and which execution produced it."""
    return {"double": job.data["n"] * 2, "pid": os.getpid(), "token": job.token}


async def process(job: Job) -> dict[str, Any]:
    """The chaos processor: record the execution, work for ``data["ms"]`` ms, answer."""
    recorder().write("run", job=job.id, token=job.token)
    await asyncio.sleep(job.data.get("ms", 0) / 1000)
    return result_for(job)


async def process_flow(job: Job) -> dict[str, Any]:
    """The flow chaos processor: a child works as :func:`process` (or fails for good
    when its data says so); a parent returns its children's values."""
    recorder().write("run", job=job.id, token=job.token, queue=job.queue_name)
    if job.name == "parent":
        values = await job.get_children_values()
        return {"children": values, "pid": os.getpid(), "token": job.token}
    await asyncio.sleep(job.data.get("ms", 0) / 1000)
    if job.data.get("fail"):
        raise UnrecoverableError("planned failure")
    return result_for(job)


# -- roles ---------------------------------------------------------------------------


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _worker(cfg: dict[str, Any], processor: Any = None) -> Worker:
    return Worker(
        cfg["queue"],
        processor,
        url=cfg["url"],
        lock_duration=cfg.get("lock", 4),
        stalled_interval=cfg.get("stalled", 1),
        max_stalled_count=cfg.get("max_stalled", 1000),
        drain_delay=cfg.get("drain", 1),
        concurrency=cfg.get("concurrency", 1),
    )


async def run_worker(cfg: dict[str, Any]) -> None:
    """A processor worker (``Worker(queue, process).run()``) whose hooks leave records."""
    rec = recorder()
    worker = _worker(cfg, process)

    def on_error(error: BaseException, job: Job | None) -> None:
        rec.write(
            "error",
            job=None if job is None else job.id,
            type=type(error).__name__,
            lock=isinstance(error, LockError),
            message=str(error),
        )

    worker.on("error", on_error)
    worker.on("completed", lambda job, result: rec.write("done", job=job.id, token=result["token"]))
    await worker.run(handle_signals=True, grace=10)


async def run_flows(cfg: dict[str, Any]) -> None:
    """Processor workers on every queue of ``cfg["queues"]`` (a flow's), in one process."""
    workers = [_worker({**cfg, "queue": name}, process_flow) for name in cfg["queues"]]
    stop = _stop_event()
    tasks = [asyncio.create_task(w.run()) for w in workers]
    await stop.wait()
    for worker in workers:
        await worker.close(grace=10)
    await asyncio.gather(*tasks)


async def run_manual(cfg: dict[str, Any]) -> None:
    """A hand-driven worker: ``get_next_job(token)``, then ``move_to_completed`` with
    ``fetch_next`` in a loop, with the stalled checker on; stops on SIGTERM.
    A store error (e.g. Redis restarting) is logged and retried after a pause."""
    rec = recorder()
    stop = _stop_event()
    worker = _worker(cfg)
    token = f"manual-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        await worker.start_stalled_check_timer()
        job: Job | None = None
        while not stop.is_set():
            try:
                if job is None:
                    job = await worker.get_next_job(token)
                    continue
                rec.write("run", job=job.id, token=token)
                await asyncio.sleep(job.data.get("ms", 0) / 1000)
                done = job
                try:
                    job = await done.move_to_completed(
                        result_for(done), token, fetch_next=not stop.is_set()
                    )
                except LockError as error:
                    # The lock ran out first (a hand-driven loop renews nothing, and a
                    # starved machine can hold a process back past it): the job went
                    # back and runs elsewhere; this completion was refused.
                    rec.write("refused", job=done.id, type=type(error).__name__, message=str(error))
                    job = None
                    continue
                rec.write("done", job=done.id, token=token)
            except BackendError as error:
                print(f"manual worker: {error}; retrying in 0.5s", file=sys.stderr, flush=True)
                rec.write("error", job=None, type=type(error).__name__, message=str(error))
                job = None
                await asyncio.sleep(0.5)
    finally:
        await worker.close()


async def run_holder(cfg: dict[str, Any]) -> None:
    """Fetch one job by hand, hold it for ``hold`` seconds (the test pauses the
    process meanwhile), then try to complete it and record the outcome."""
    rec = recorder()
    worker = _worker(cfg)
    token = f"holder-{os.getpid()}"
    try:
        job = await worker.get_next_job(token)
        assert job is not None, "the holder found no job"
        rec.write("run", job=job.id, token=token)
        await asyncio.sleep(cfg["hold"])
        try:
            await job.move_to_completed(result_for(job), token, fetch_next=False)
        except LockError as error:
            rec.write("refused", job=job.id, type=type(error).__name__, message=str(error))
        else:
            rec.write("done", job=job.id, token=token)
    finally:
        await worker.close()


async def run_producer(cfg: dict[str, Any]) -> None:
    """Add ``count`` jobs one at a time; an add that fails with a store error is
    retried until the store acknowledges it. With ``ids`` each job has a custom id,
    so a retried add that had in fact gone through adds nothing twice."""
    rec = recorder()
    rng = random.Random(cfg.get("seed", 0))
    queue = Queue(cfg["queue"], url=cfg["url"])
    name = cfg["name"]
    try:
        for i in range(cfg["count"]):
            key = f"{name}-{i}"
            data = {"n": i, "key": key, "ms": rng.randint(0, cfg.get("max_ms", 20))}
            failures = 0
            while True:
                started = time.time()
                try:
                    job = await queue.add("chaos", data, job_id=key if cfg.get("ids") else None)
                    break
                except BackendError as error:
                    failures += 1
                    rec.write("add_error", key=key, type=type(error).__name__, message=str(error))
                    await asyncio.sleep(min(0.05 * 2**failures, 1.0))
            rec.write("add", key=key, job=job.id, started=started)
            await asyncio.sleep(cfg.get("pause", 0))
    finally:
        await queue.close()


ROLES = {
    "worker": run_worker,
    "flows": run_flows,
    "manual": run_manual,
    "holder": run_holder,
    "producer": run_producer,
}


def main(argv: list[str]) -> None:
    role, raw = argv
    cfg = json.loads(raw)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    os.environ[DIR_ENV] = cfg["dir"]
    asyncio.run(ROLES[role](cfg))


if __name__ == "__main__":
    main(sys.argv[1:])
