"""Helpers the suites share (imported by their conftests and modules).

* :class:`Workers`: Workers made for one test on one store, all closed at the end.
* :func:`running_workers`: processor workers on several queues for the body of a block.
* :func:`wait_until`: poll a predicate until it holds, or fail after a timeout.
* :func:`reported` / :func:`print_report`: the lines a chaos or fuzz test measured,
  printed with ``-s`` and again in pytest's summary.
* :func:`cli_worker` / :func:`sigterm`: a ``corral worker`` subprocess, stopped as an
  operator stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import pytest

from corral import Job, Worker


class Workers:
    """Workers on the store at ``url``; :meth:`aclose` closes every one made (``async
    with contextlib.aclosing(Workers(url)) as workers:``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.made: list[Worker] = []

    def make(self, queue_name: str, processor: Any = None, **options: Any) -> Worker:
        """A Worker on ``queue_name`` (hand-driven unless given a ``processor``); a
        test's workers poll an empty queue every 0.2 s unless told otherwise."""
        options.setdefault("drain_delay", 0.2)
        worker = Worker(queue_name, processor, url=self.url, **options)
        self.made.append(worker)
        return worker

    async def aclose(self) -> None:
        for worker in self.made:
            await worker.close()


@contextlib.asynccontextmanager
async def running_workers(
    url: str, processors: Mapping[str, Callable[[Job], Any]], **options: Any
) -> AsyncIterator[list[Worker]]:
    """Processor workers on several queues (``{queue: processor}``), running for the
    body of the block; closed, and their runs awaited, when it ends."""
    options.setdefault("drain_delay", 0.2)
    workers = [Worker(q, fn, url=url, **options) for q, fn in processors.items()]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        yield workers
    finally:
        for worker in workers:
            await worker.close()
        await asyncio.gather(*tasks)


async def wait_until(
    predicate: Callable[[], Any],
    timeout: float = 10.0,
    what: str = "the condition",
    *,
    every: float = 0.02,
) -> None:
    """Check ``predicate()`` (a plain function, or one that returns an awaitable) every
    ``every`` seconds until it is true; fail after ``timeout`` seconds, naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(every)


def reported(request: pytest.FixtureRequest, suite: str, summary: list[str]) -> Iterator[list[str]]:
    """The body of a ``report`` fixture: the lines the test appends are printed (``-s``)
    under ``[suite]`` and kept in ``summary`` for :func:`print_report`."""
    lines: list[str] = []
    started = time.monotonic()
    yield lines
    took = time.monotonic() - started
    for line in lines:
        print(f"[{suite}] {request.node.name}: {line}")
    summary.extend(f"{request.node.name} ({took:.1f}s): {line}" for line in lines)


def print_report(terminalreporter: Any, title: str, summary: list[str]) -> None:
    """Show ``summary`` as a section of pytest's terminal summary (nothing if empty)."""
    if summary:
        terminalreporter.section(title)
        for line in summary:
            terminalreporter.write_line(line)


@contextlib.contextmanager
def cli_worker(
    args: list[str], *, cwd: Any, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[str]]:
    """``corral worker *args`` in a subprocess (output unbuffered, stderr into
    stdout) for the body of the block; killed at the end if still running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "corral", "worker", *args],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def sigterm(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    """Send SIGTERM and wait for the process to exit; its whole output."""
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=timeout)
    return out
