"""Processors the process-worker tests run in child processes (importable by path)."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import time
from typing import Any

from corral import Job, RateLimitError, UnrecoverableError
from corral.sync import Job as BlockingJob


def spin(job: Job) -> dict[str, Any]:
    """Pure-Python work for ``data["ms"]`` milliseconds; returns the child's pid."""
    deadline = time.perf_counter() + job.data.get("ms", 20) / 1000
    n = 0
    while time.perf_counter() < deadline:
        n += 1
    return {"pid": os.getpid(), "n": n}


def echo(job: Job) -> Any:
    return {"pid": os.getpid(), "data": job.data, "id": job.id, "attempts": job.attempts_made}


async def async_echo(job: Job) -> Any:
    await asyncio.sleep(0)
    await job.update_progress(50)
    await job.log(f"async in {os.getpid()}")
    return {"pid": os.getpid(), "data": job.data}


def reports(job: Job) -> Any:
    blocking = BlockingJob(job)
    blocking.update_progress({"step": 1})
    count = blocking.log("one")
    count = blocking.log("two")
    return {"logs": count, "state": blocking.get_state().value}


def not_json(job: Job) -> Any:
    return {"when": object()}


def raises(job: Job) -> Any:
    raise KeyError("no such thing")


def unrecoverable(job: Job) -> Any:
    raise UnrecoverableError("give up")


def rate_limited(job: Job) -> Any:
    raise RateLimitError(retry_after=30)


def crash(job: Job) -> Any:
    how = job.data.get("how")
    if how == "exit":
        os._exit(7)
    if how == "segv":
        ctypes.string_at(0)
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    return os.getpid()


def sleeper(job: Job) -> Any:
    time.sleep(job.data.get("s", 60))
    return os.getpid()


def stubborn(job: Job) -> Any:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(job.data.get("s", 60))
    return os.getpid()


def pid(job: Job) -> int:
    return os.getpid()


def grow(job: Job) -> int:
    global _ballast
    _ballast = bytearray(job.data.get("bytes", 64 << 20))
    for i in range(0, len(_ballast), 4096):
        _ballast[i] = 1
    return os.getpid()


_ballast = bytearray()


def rendezvous(job: Job) -> dict[str, Any]:
    """Mark this job started in ``data["dir"]``, then wait (up to 20 s) until
    ``data["n"]`` jobs have: only jobs running at the same time all meet."""
    folder = job.data["dir"]
    with open(os.path.join(folder, f"{job.id}.started"), "w"):
        pass
    deadline = time.monotonic() + 20
    met = False
    while time.monotonic() < deadline:
        if len([f for f in os.listdir(folder) if f.endswith(".started")]) >= job.data["n"]:
            met = True
            break
        time.sleep(0.01)
    return {"pid": os.getpid(), "met": met}


def report_pid(job: Job) -> Any:
    """Report the child's pid as progress, then sleep."""
    BlockingJob(job).update_progress({"pid": os.getpid()})
    time.sleep(job.data.get("s", 60))
    return os.getpid()


async def async_report_pid(job: Job) -> Any:
    await job.update_progress({"pid": os.getpid()})
    await asyncio.sleep(job.data.get("s", 60))
    return os.getpid()


def finishes_move(job: Job) -> Any:
    return asyncio.run(job.move_to_completed("no", job.token))


async def log_count(job: Job) -> Any:
    await job.log("one")
    await job.log("two")
    lines, count = await job._mover.backend.get_logs(job.queue_name, job.id, -1, -1)
    return {"last": lines, "count": count}


def sleeps_and_tells(job: Job) -> Any:
    """Report the child's pid, sleep; on SIGTERM (SystemExit) record what the child
    saw of the stop in the job's log, then exit."""
    blocking = BlockingJob(job)
    blocking.update_progress({"pid": os.getpid()})
    try:
        time.sleep(job.data.get("s", 60))
    except SystemExit:
        reason = job.stop_reason
        blocking.log(f"stopped: {job.is_cancelled} {type(reason).__name__}: {reason}")
        raise
    return os.getpid()


async def asks_badly(job: Job) -> Any:
    """Ask the worker for what it must refuse: an unknown call, another job's state."""
    store: Any = job._mover.backend
    said = []
    for op, job_id in (("nope", job.id), ("get_state", "someone-else")):
        try:
            await store._ask(op, job_id)
        except RuntimeError as error:
            said.append(str(error))
    return said
