"""The child's side of a process worker: import the processor, run jobs, report.

:func:`child_main` is what a child process runs. It imports the processor by its
path, says ``ready``, and then runs one job at a time in its main thread: a plain
function is called directly, an ``async def`` one on the child's own event loop.
The job handed to the processor is a real :class:`corral.Job` whose store is a
:class:`ChildStore`: ``update_progress``, ``log``, ``get_logs`` and ``get_state``
travel to the parent, which carries them out on its connection; the moves that
finish a job belong to the parent and are refused here with what to do instead.

A reader thread takes every frame from the parent. When the parent's end closes
without an ``exit`` (the parent died, even by SIGKILL), the thread ends the
process at once, whatever the main thread is doing: no child outlives its worker.
On Linux the child also asks to be killed when the process that forked it goes.

Signals: SIGINT is ignored (Ctrl-C in a terminal reaches the whole process group;
the parent decides what a shutdown does to running jobs). SIGTERM, which the
parent sends to stop a job (a timeout, a cancel, a shutdown past its grace),
raises SystemExit in the processor, so its ``finally`` blocks and context
managers run; the parent follows with SIGKILL after its grace.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import inspect
import itertools
import os
import queue
import resource
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any, NoReturn, cast

from corral._codec import UnencodableError, dumps
from corral._event_loop import loop_factory
from corral._process.target import load_target
from corral._process.wire import BlockingLink, error_payload, record_from_payload
from corral.backends.base import Backend, JobState
from corral.errors import JobCancelledError, JobTimeoutError, ProcessorError
from corral.job import Job, JobMover

__all__ = ["ChildStore", "child_main"]

_PR_SET_PDEATHSIG = 1


def child_main(sock: socket.socket, spec: str) -> None:
    """Run a process worker's child on the socket ``sock``, with the processor ``spec``."""
    parent = os.getppid()
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _terminate)
    link = BlockingLink(sock)
    try:
        function = load_target(spec)
    except Exception as error:  # pragma: no cover - measured nowhere: the worker ends this child
        link.send({"t": "fatal", "error": str(error)})
        return
    _Child(link, function).serve()


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when the process that forked it dies."""
    if not sys.platform.startswith("linux"):  # pragma: no cover - Linux is where corral runs
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # pragma: no cover - the parent died while this one started
        os._exit(1)


def _terminate(signum: int, frame: FrameType | None) -> NoReturn:
    raise SystemExit(128 + signum)


def _rss_bytes() -> int:
    """This process's resident memory now (bytes); its peak where /proc is missing."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _store_error(reply: dict[str, Any]) -> Exception:
    """The exception the parent's store call raised, as the processor would see it
    in-process (a corral error keeps its class)."""
    from corral import errors

    message = str(reply.get("error"))
    found = getattr(errors, str(reply.get("type")), None)
    if isinstance(found, type) and issubclass(found, errors.CorralError):
        with contextlib.suppress(Exception):
            return found(message)
    return RuntimeError(message)


def _stop_reason(message: dict[str, Any]) -> ProcessorError:
    """What ``job.stop_reason`` says in the child: the worker's reason, same class."""
    text = str(message.get("message"))
    if message.get("type") == "JobTimeoutError":
        return JobTimeoutError(text)
    return JobCancelledError(text)


class _Child:
    """One child: the reader thread, the calls in flight to the parent, the job loop."""

    def __init__(self, link: BlockingLink, function: Callable[..., Any]) -> None:
        self.link = link
        self.function = function
        self.is_async = inspect.iscoroutinefunction(function)
        self.inbox: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self.calls: dict[int, concurrent.futures.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._calls_lock = threading.Lock()
        self._exiting = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.job: Job | None = None
        """The job the processor is running, if any."""

    # -- frames from the parent -------------------------------------------------------

    def _read(self) -> None:
        while True:
            message = self.link.receive()
            if message is None:
                if self._exiting:
                    return
                # The parent is gone: nothing may outlive it (no coverage is saved here).
                os._exit(1)  # pragma: no cover
            kind = message.get("t")
            if kind == "reply":
                with self._calls_lock:
                    future = self.calls.pop(int(message["rid"]), None)
                if future is None:  # pragma: no cover - a reply nobody waits for
                    continue
                if message.get("ok"):
                    future.set_result(message.get("value"))
                else:
                    future.set_exception(_store_error(message))
            elif kind == "stop":
                # The worker is stopping this job (a cancel or a timeout); SIGTERM follows.
                job = self.job
                if job is not None:
                    job.request_stop(_stop_reason(message))
                with contextlib.suppress(OSError):
                    self.link.send({"t": "stopping"})
            else:
                if kind == "exit":
                    self._exiting = True
                self.inbox.put(message)

    def call(self, op: str, *args: Any) -> concurrent.futures.Future[Any]:
        """Ask the parent to do ``op`` on the store; its answer resolves the future."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        rid = next(self._ids)
        with self._calls_lock:
            self.calls[rid] = future
        try:
            self.link.send({"t": "call", "rid": rid, "op": op, "args": list(args)})
        except OSError as error:  # pragma: no cover - the worker died mid-call; this child follows
            with self._calls_lock:
                self.calls.pop(rid, None)
            future.set_exception(RuntimeError(f"the worker process is gone: {error}"))
        return future

    # -- the job loop -----------------------------------------------------------------

    def serve(self) -> None:
        threading.Thread(target=self._read, name="corral-child-reader", daemon=True).start()
        self.link.send({"t": "ready", "pid": os.getpid()})
        while True:
            message = self.inbox.get()
            if message.get("t") == "exit":
                break
            if message.get("t") == "job":
                self._run(message)
        if self._loop is not None:
            self._loop.close()
        self.link.close()

    def _run(self, message: dict[str, Any]) -> None:
        record = record_from_payload(dict(message["job"]))
        store = ChildStore(self, message["prefix"])
        job = Job(JobMover(cast(Backend, store), message["queue"]), record, message["token"])
        outcome: dict[str, Any] = {"t": "done", "id": record.id}
        self.job = job
        try:
            result = self.function(job)
            if inspect.isawaitable(result):
                result = self._event_loop().run_until_complete(result)
        except (Exception, asyncio.CancelledError) as error:
            trace = "".join(traceback.format_exception(error)).rstrip()
            outcome.update(ok=False, error=error_payload(error, trace))
        else:
            try:
                outcome.update(ok=True, value=dumps(result, what="the processor's return value"))
            except UnencodableError as error:
                refused = ValueError(f"the processor's return value could not be stored: {error}")
                outcome.update(ok=False, error=error_payload(refused, str(refused)))
        finally:
            self.job = None
        outcome["rss"] = _rss_bytes()
        self.link.send(outcome)

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = loop_factory()()
        return self._loop


class ChildStore:
    """The store a job sees inside a child: the parent carries out each call.

    Only what a processor does to its own running job is here (progress, logs,
    state); every other operation belongs to the worker process and is refused.
    """

    def __init__(self, child: _Child, prefix: str) -> None:
        self._child = child
        self.prefix = prefix
        """The queue's key prefix (``job.queue_qualified_name`` reads it)."""

    async def _ask(self, op: str, *args: Any) -> Any:
        return await asyncio.wrap_future(self._child.call(op, *args))

    async def update_progress(self, queue: str, job_id: str, progress: str) -> None:
        """Store the job's progress (JSON text) and publish its event."""
        await self._ask("update_progress", job_id, progress)

    async def add_log(self, queue: str, job_id: str, line: str, keep: int | None) -> int:
        """Append a log line; the log's length."""
        return int(await self._ask("add_log", job_id, line, keep))

    async def get_logs(
        self, queue: str, job_id: str, start: int, end: int
    ) -> tuple[list[str], int]:
        """The log lines ``[start, end]`` and how many there are."""
        lines, count = await self._ask("get_logs", job_id, start, end)
        return [str(line) for line in lines], int(count)

    async def get_state(self, queue: str, job_id: str) -> JobState:
        """The job's state."""
        return JobState(await self._ask("get_state", job_id))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy, pickle and friends probing for dunders
            raise AttributeError(name)
        raise RuntimeError(
            f"{name} cannot be called from inside a process worker's child: the worker "
            "process holds the job's lock and finishes it; return a value to complete the "
            "job or raise to fail it (job.update_progress, job.log, job.get_logs and "
            "job.get_state work here)"
        )
