"""The parent's side of a process worker: the children, and running a job in one.

:class:`ProcessPool` is the processor call of a worker made with ``processes=N``
(the runner calls it as it calls an in-process processor). It keeps N children,
hands each job to an idle one, and turns what comes back into what the runner
expects: the return value, or an exception that fails the attempt.

What happens to a job whose child does not answer normally:

| what | the job | the child |
|---|---|---|
| the processor raised | fails with its message (:class:`~corral.ChildJobError`; Unrecoverable/RateLimit/WaitingChildren keep their meaning) | goes on |
| returned a value JSON cannot hold | fails: "the processor's return value could not be stored: …" | goes on |
| the child died (segfault, OOM kill, ``os._exit``) | fails with the signal or exit code (:class:`~corral.ChildCrashedError`) | replaced |
| its ``timeout`` passed, or it was cancelled | fails with the JobTimeoutError / JobCancelledError reason (a timeout retries while attempts remain) | told why (``job.is_cancelled``), SIGTERM, SIGKILL after ``kill_grace``; replaced |
| the worker stops past its grace, or at once | returned to wait without using an attempt | killed; not replaced |

Recycling: a child that has run ``max_jobs_per_child`` jobs, or whose resident
memory after a job is above ``max_memory_per_child`` bytes, is asked to exit
once that job is done, and a fresh one takes its place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from corral._codec import loads
from corral._engine.runner import JobNotStarted
from corral._process.child import child_main
from corral._process.target import ProcessTarget
from corral._process.wire import (
    HEADER_SIZE,
    body_length,
    decode_body,
    encode_frame,
    record_payload,
)
from corral.errors import (
    ChildCrashedError,
    ChildJobError,
    ConfigurationError,
    CorralError,
    RateLimitError,
    UnrecoverableError,
    WaitingChildrenError,
)
from corral.job import Job

__all__ = ["PROCESS_STOP_MARGIN", "ProcessPool", "describe_exit"]

logger = logging.getLogger("corral.worker")

START_TIMEOUT = 60.0
"""How long (seconds) a child may take to import its processor and say it is ready."""

RETURN_TIMEOUT = 5.0
"""How long (seconds) a job killed by a stop may take to be handed back to wait."""

STOP_NOTICE_WAIT = 0.5
"""How long (seconds) a child may take to hear why its job stops before SIGTERM."""

PROCESS_STOP_MARGIN = 1.0
"""How long (seconds) past ``kill_grace`` the runner waits for a stopped job's child."""

RESPAWN_DELAY_MAX = 5.0
"""The longest pause (seconds) between attempts to replace a child that fails to start."""


def describe_exit(exitcode: int | None) -> str:
    """How a child ended, in words: the signal that killed it, or its exit code."""
    if exitcode is None:
        return "ended"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (out of memory?)" if -exitcode == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited with code {exitcode}"


_context: Any = None


def _forkserver(preload: list[str]) -> Any:
    """The forkserver context; the modules to import in the server, so children
    fork with them loaded (only the first call's list counts: one server per process)."""
    global _context
    if _context is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(preload)
        _context = context
    return _context


_start_thread: ThreadPoolExecutor | None = None


def _starter() -> ThreadPoolExecutor:
    """The one thread that starts and closes children: ``multiprocessing`` keeps a
    process-wide list of children that a start reads and a close changes, so the two
    never run at once (and a start never blocks the event loop)."""
    global _start_thread
    if _start_thread is None:
        _start_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="corral-children")
    return _start_thread


def _start_process(process: Any, theirs: socket.socket) -> None:
    """Start ``process`` and close the parent's copy of the child's socket end (here,
    whatever happens to the task that asked: the start may still be reading it)."""
    try:
        process.start()
    finally:
        theirs.close()


def _close_process(process: Any) -> None:
    with contextlib.suppress(ValueError, OSError):
        process.close()


class _Child:
    """One child process, seen from the parent."""

    def __init__(self, process: Any, writer: asyncio.StreamWriter) -> None:
        self.process = process
        self.writer = writer
        self.pid: int = process.pid
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()
        self.exited = asyncio.Event()
        self.exitcode: int | None = None
        self.result: asyncio.Future[dict[str, Any]] | None = None
        self.job: Job | None = None
        self.jobs_done = 0
        self.rss = 0
        self.stopping: str | None = None
        """Why the parent is stopping this child (None: it is not)."""
        self.reader: asyncio.Task[None] | None = None
        self.replaced = False
        self.stop_heard = asyncio.Event()
        """Set when the child has heard why its job stops."""
        """Whether a fresh child was already started in this one's place."""

    @property
    def alive(self) -> bool:
        return not self.exited.is_set() and self.stopping is None

    def send(self, message: dict[str, Any]) -> None:
        if not self.writer.is_closing():
            self.writer.write(encode_frame(message))

    def signal(self, signum: int) -> None:
        if not self.exited.is_set():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)


class ProcessPool:
    """Runs a processor in ``processes`` child processes, one job per child at a time."""

    def __init__(
        self,
        target: ProcessTarget,
        *,
        processes: int,
        max_jobs_per_child: int | None,
        max_memory_per_child: int | None,
        kill_grace: float,
        name: str,
    ) -> None:
        self.target = target
        self.processes = processes
        self.max_jobs_per_child = max_jobs_per_child
        self.max_memory_per_child = max_memory_per_child
        self.kill_grace = kill_grace
        self.name = name
        self.children: set[_Child] = set()
        self._idle: asyncio.Queue[_Child] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._forced = False
        self._stopping: asyncio.Event | None = None

    # -- starting ---------------------------------------------------------------------

    async def start(self, stopping: asyncio.Event | None = None) -> None:
        """Start every child and wait until all are ready; ``stopping`` is the runner's
        stop event (once set, jobs not yet in a child are handed back)."""
        self._stopping = stopping
        results = await asyncio.gather(
            *(self._spawn() for _ in range(self.processes)), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            await self.close()
            raise errors[0]
        for child in results:
            assert isinstance(child, _Child)
            self._idle.put_nowait(child)
        logger.info(
            "worker on queue %r: %d child process(es) ready for %s",
            self.name, self.processes, self.target.spec,
        )  # fmt: skip

    async def _spawn(self) -> _Child:
        loop = asyncio.get_running_loop()
        context = _forkserver(["corral._process.child", self.target.module])
        ours, theirs = socket.socketpair()
        process = context.Process(
            target=child_main,
            args=(theirs, self.target.spec),
            name=f"corral-{self.name}-child",
            daemon=True,
        )
        starting = loop.run_in_executor(_starter(), _start_process, process, theirs)
        try:
            await asyncio.shield(starting)
        except BaseException:
            # Cancelled or failed: once the start is over, closing our end makes a
            # child that did start exit at once.
            starting.add_done_callback(lambda _: ours.close())
            raise
        reader, writer = await asyncio.open_unix_connection(sock=ours)
        child = _Child(process, writer)
        self.children.add(child)
        loop.add_reader(process.sentinel, self._on_exit, child)
        child.reader = self._spawn_task(self._read(child, reader))
        try:
            async with asyncio.timeout(START_TIMEOUT):
                await child.ready
        except BaseException:
            child.stopping = "it did not start"
            child.signal(signal.SIGKILL)
            await child.exited.wait()
            raise
        return child

    def _spawn_task(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _on_exit(self, child: _Child) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(child.process.sentinel)
        self._spawn_task(self._reap(child))

    async def _reap(self, child: _Child) -> None:
        # On the starter thread: a start elsewhere may be polling the same child.
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(_starter(), child.process.join, 0)
        child.exitcode = child.process.exitcode
        child.exited.set()

    # -- frames from a child ------------------------------------------------------------

    async def _read(self, child: _Child, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                header = await reader.readexactly(HEADER_SIZE)
                message = decode_body(await reader.readexactly(body_length(header)))
                kind = message.get("t")
                if kind == "ready":
                    if not child.ready.done():
                        child.ready.set_result(None)
                elif kind == "fatal":
                    if not child.ready.done():
                        child.ready.set_exception(
                            ConfigurationError(
                                f"a child process cannot load processor {self.target.spec!r}: "
                                f"{message.get('error')}"
                            )
                        )
                elif kind == "call":
                    self._spawn_task(self._answer(child, message))
                elif kind == "stopping":
                    child.stop_heard.set()
                elif kind == "done":
                    child.rss = int(message.get("rss") or 0)
                    if child.result is not None and not child.result.done():
                        child.result.set_result(message)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except ValueError as error:  # pragma: no cover - a child sends only frames it encoded
            # A frame that cannot be read: the child is of no more use (its job fails).
            logger.error(
                "worker on queue %r: child process %d sent what the worker cannot read "
                "(%s); killing it", self.name, child.pid, error,
            )  # fmt: skip
            child.signal(signal.SIGKILL)
        await child.exited.wait()
        child.writer.close()
        await asyncio.get_running_loop().run_in_executor(_starter(), _close_process, child.process)
        self.children.discard(child)
        how = describe_exit(child.exitcode)
        if not child.ready.done():
            child.ready.set_exception(
                ConfigurationError(f"a child process for {self.target.spec!r} {how} as it started")
            )
        if child.stopping is None and child.result is not None and not child.result.done():
            child.result.set_exception(
                ChildCrashedError(
                    f"the child process (pid {child.pid}) {how} while running the job"
                )
            )
        if child.stopping is None and child.job is None and child.ready.done():
            logger.warning(
                "worker on queue %r: an idle child process (pid %d) %s",
                self.name, child.pid, how,
            )  # fmt: skip
        if (
            not (self._closing or child.replaced)
            and child.ready.done()
            and child.stopping != "it did not start"
        ):
            self._spawn_task(self._replace())

    async def _answer(self, child: _Child, message: dict[str, Any]) -> None:
        """Carry out a child's store call for its running job, and reply."""
        job = child.job
        reply: dict[str, Any] = {"t": "reply", "rid": message.get("rid")}
        try:
            op = message.get("op")
            args = list(message.get("args") or [])
            if job is None or not args or args[0] != job.id:
                raise RuntimeError("a child may only act on the job it is running")
            reply.update(ok=True, value=await self._store_call(job, str(op), args[1:]))
        except Exception as error:
            reply.update(ok=False, type=type(error).__name__, error=str(error))
        child.send(reply)

    @staticmethod
    async def _store_call(job: Job, op: str, args: list[Any]) -> Any:
        if op == "update_progress":
            await job.update_progress(loads(str(args[0])))
            return None
        if op == "add_log":
            return await job.log(str(args[0]), keep=args[1])
        if op == "get_logs":
            mover = job._mover
            lines, count = await mover.backend.get_logs(
                mover.queue, job.id, int(args[0]), int(args[1])
            )
            return [lines, count]
        if op == "get_state":
            return (await job.get_state()).value
        raise RuntimeError(f"unknown call {op!r} from a child process")

    # -- replacing -----------------------------------------------------------------------

    async def _replace(self) -> None:
        failures = 0
        while not self._closing:
            try:
                child = await self._spawn()
            except Exception as error:  # pragma: no cover - e.g. the machine is out of processes
                failures += 1
                delay = min(0.2 * 2**failures, RESPAWN_DELAY_MAX)
                logger.error(
                    "worker on queue %r: a new child process failed to start (%s); "
                    "trying again in %.1fs", self.name, error, delay,
                )  # fmt: skip
                await asyncio.sleep(delay)
                continue
            if self._closing:
                child.send({"t": "exit"})
                return
            self._idle.put_nowait(child)
            return

    # -- running a job ------------------------------------------------------------------

    async def _take(self) -> _Child:
        """An idle, live child; raises JobNotStarted if the worker stops first."""
        while True:
            if self._stopping is not None and self._stopping.is_set():
                raise JobNotStarted
            getting = asyncio.ensure_future(self._idle.get())
            if self._stopping is None:
                child = await getting
            else:
                stop = asyncio.ensure_future(self._stopping.wait())
                try:
                    await asyncio.wait({getting, stop}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stop.cancel()
                    if not getting.done():
                        getting.cancel()
                if not getting.done() or getting.cancelled():
                    raise JobNotStarted
                child = getting.result()
                if self._stopping.is_set():
                    self._idle.put_nowait(child)
                    raise JobNotStarted
            if child.alive:
                return child

    async def __call__(self, job: Job) -> Any:
        try:
            child = await self._take()
        except JobNotStarted:
            await self._hand_back(job)
            raise
        except asyncio.CancelledError:
            if self._forced and job.stop_reason is None:
                await self._hand_back(job)
            raise
        loop = asyncio.get_running_loop()
        result = child.result = loop.create_future()
        child.job = job
        try:
            child.send(
                {
                    "t": "job",
                    "job": record_payload(job._record),
                    "queue": job.queue_name,
                    "prefix": job._mover.backend.prefix,
                    "token": job.token,
                }
            )
            outcome = await asyncio.shield(result)
        except asyncio.CancelledError:
            stop = job.stop_reason
            if stop is not None:
                # Cancelled or timed out: the child hears why (``job.is_cancelled``),
                # gets SIGTERM, SIGKILL after kill_grace, and a fresh one replaces it.
                # The runner then fails the job with the reason.
                await asyncio.shield(self._tell_and_stop(child, stop))
                raise
            # The worker is stopping: past its grace, or at once. The child is killed
            # (and not replaced) so that the job runs nowhere; then (at once) its lock
            # is released.
            child.replaced = True
            await asyncio.shield(self._stop(child, "the worker is stopping", signal.SIGKILL))
            if self._forced:
                await self._hand_back(job)
            raise
        finally:
            child.job = None
            child.result = None
            self._done_with(child)
        return self._outcome(job, outcome)

    def _outcome(self, job: Job, outcome: dict[str, Any]) -> Any:
        if outcome.get("ok"):
            return loads(str(outcome.get("value")))
        error = outcome.get("error") or {}
        message = str(error.get("message") or error.get("type") or "the processor failed")
        kind = error.get("kind")
        if kind == "unrecoverable":
            raise UnrecoverableError(message)
        if kind == "rate_limit":
            retry_after_ms = error.get("retry_after_ms")
            retry_after = None if not retry_after_ms else float(retry_after_ms) / 1000
            raise RateLimitError(message, retry_after=retry_after)
        if kind == "waiting_children":
            raise WaitingChildrenError(message)
        raised = ChildJobError(message, type_name=str(error.get("type") or "Exception"))
        raise raised from _RemoteTraceback(str(error.get("traceback") or ""))

    def _done_with(self, child: _Child) -> None:
        """Put ``child`` back to work, or recycle it."""
        if not child.alive:
            return
        child.jobs_done += 1
        reason = None
        if self.max_jobs_per_child is not None and child.jobs_done >= self.max_jobs_per_child:
            reason = f"it ran {child.jobs_done} jobs (max_jobs_per_child)"
        elif self.max_memory_per_child is not None and child.rss > self.max_memory_per_child:
            reason = f"its memory reached {child.rss} bytes (max_memory_per_child)"
        if reason is None:
            self._idle.put_nowait(child)
            return
        logger.info(
            "worker on queue %r: recycling child process %d: %s", self.name, child.pid, reason
        )
        child.stopping = reason
        child.send({"t": "exit"})
        if not self._closing:
            # Start the fresh child now rather than once this one has gone.
            child.replaced = True
            self._spawn_task(self._replace())

    async def _tell_and_stop(self, child: _Child, stop: BaseException) -> None:
        """Tell ``child`` why its job stops (so ``job.is_cancelled`` is true there when
        SIGTERM lands), wait a moment for it to hear, then stop it."""
        child.send({"t": "stop", "type": type(stop).__name__, "message": str(stop)})
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(self.kill_grace, STOP_NOTICE_WAIT)):
                await child.stop_heard.wait()
        await self._stop(child, str(stop), signal.SIGTERM)

    async def _stop(self, child: _Child, why: str, signum: int) -> None:
        """Stop ``child`` (``signum``, then SIGKILL after ``kill_grace``) and wait for it."""
        if child.exited.is_set():
            return
        child.stopping = why
        child.signal(signum)
        if signum != signal.SIGKILL:
            try:
                async with asyncio.timeout(self.kill_grace):
                    await child.exited.wait()
                return
            except TimeoutError:
                logger.warning(
                    "worker on queue %r: child process %d did not stop within %.1fs of "
                    "SIGTERM (%s); killing it", self.name, child.pid, self.kill_grace, why,
                )  # fmt: skip
                child.signal(signal.SIGKILL)
        await child.exited.wait()

    async def _hand_back(self, job: Job) -> None:
        """Return ``job`` to wait at once, without using an attempt (its lock released)."""
        with contextlib.suppress(CorralError, TimeoutError, OSError):
            async with asyncio.timeout(RETURN_TIMEOUT):
                await job.move_to_wait(job.token)

    # -- stopping -----------------------------------------------------------------------

    def force(self) -> None:
        """Stop now: the next cancel of a running job kills its child at once and
        returns the job to wait."""
        self._forced = True

    def shutdown(self) -> None:
        """Stop replacing children (the runner is done); :meth:`close` ends them."""
        self._closing = True

    async def close(self) -> None:
        """End every child: idle ones exit, busy ones are killed; wait for all of them."""
        self._closing = True
        for child in list(self.children):
            if child.job is None and child.stopping is None:
                child.stopping = "the worker is closing"
                child.send({"t": "exit"})
            elif not child.exited.is_set():
                child.stopping = child.stopping or "the worker is closing"
                child.signal(signal.SIGKILL)
        waiting = [c.exited.wait() for c in list(self.children)]
        if waiting:
            try:
                async with asyncio.timeout(max(self.kill_grace, 1.0)):
                    await asyncio.gather(*waiting)
            except TimeoutError:  # pragma: no cover - an idle child that would not exit
                for child in list(self.children):
                    child.signal(signal.SIGKILL)
                await asyncio.gather(*(c.exited.wait() for c in list(self.children)))
        for task in list(self._tasks):
            if task is not asyncio.current_task() and not task.done():
                task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class _RemoteTraceback(Exception):
    def __init__(self, trace: str) -> None:
        super().__init__(trace)
        self.trace = trace

    def __str__(self) -> str:
        return f'\n"""\n{self.trace}\n"""'
