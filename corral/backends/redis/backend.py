"""RedisBackend: the :class:`~corral.backends.base.Backend` operations on Redis.

Each operation is one round trip: one Lua script (``lua/<operation>.lua``) for
anything that must be atomic, or one plain command for a single read. The data
layout is Node BullMQ 6's (see :mod:`.keys`), so Node and Python workers and
producers share queues.

Connections are managed by :mod:`.connections` (one pipelined connection shared
by every coroutine, dedicated ones for blocking commands) behind the small
:class:`~corral.backends.redis.connection.RedisConnection` protocol; corral's
own client (:mod:`.client`) is the default.

Clocks: lock, limiter and stalled-check expiry follow the Redis server's clock
(``PX``); the ``now`` an operation receives stamps what is recorded and places
and promotes delayed jobs, as :mod:`corral.backends.base` says per operation.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from corral import _clock
from corral._version import __version__
from corral.backends import mask_url
from corral.backends.base import (
    CleanBatch,
    Completed,
    DependencyBucket,
    DependencyCounts,
    DependencyPage,
    Event,
    Failed,
    Fetched,
    FetchRequest,
    FlowEntry,
    GlobalLimits,
    JobRecord,
    JobState,
    KeepJobs,
    Limiter,
    MetricsPage,
    NewJob,
    Retry,
    SchedulerIteration,
    SchedulerRecord,
    SchedulerSpec,
    WorkerRecord,
)
from corral.backends.keyspace import RESERVED_JOB_IDS, validate_prefix
from corral.backends.redis import admin, cancel, flows, schedulers
from corral.backends.redis.client import RedisClient, Replied
from corral.backends.redis.connection import (
    CommandHead,
    RedisConnection,
    RedisConnectionError,
    RedisReplyError,
)
from corral.backends.redis.connections import Connections
from corral.backends.redis.durability import READ_ONLY as _READ_ONLY
from corral.backends.redis.durability import run_durably
from corral.backends.redis.keys import QueueKeys
from corral.backends.redis.records import (
    new_job_args,
    pairs,
    parse_events,
    parse_fetched,
    parse_job,
    parse_jobs,
)
from corral.backends.redis.scripts import Script, load_script, refusal
from corral.backends.redis.slots import check_queue_slot
from corral.errors import (
    BackendError,
    CorruptJobError,
    ErrorCode,
    StoreUnavailableError,
    error_from_code,
)

__all__ = ["RedisBackend"]

_OBLITERATE_BATCH = 1000
_VERSION = f"corral:{__version__}"
"""What corral writes as ``meta.version`` (Node writes ``bullmq:<version>``)."""

RedisError = (RedisReplyError, RedisConnectionError)


def _failure(message: str, exc: Exception) -> BackendError:
    """The error for a failed Redis call: unreachable (outcome unknown) or refused."""
    if isinstance(exc, RedisConnectionError):
        return StoreUnavailableError(message)
    return BackendError(message)


_FINISHED = (JobState.COMPLETED, JobState.FAILED)

# Backend states are BullMQ's names; their keys are the same but for `waiting`.
_STATE_SUFFIX = {JobState.WAITING: "wait"}


def _mark_read(future: asyncio.Future[Any]) -> None:
    """Mark ``future``'s error as seen (whoever needs it awaits the future)."""
    if not future.cancelled():
        future.exception()


def _fetch_argv(fetch: FetchRequest | None, now: int) -> list[Any]:
    """The fetch ARGV of move_to_active, move_to_finished and retry_job
    (``lua/includes/fetch.lua``): flag "1" then token, lock ms, limiter max, limiter window ms, worker name ("" for
    none) and the highest delayed score due by ``now``; just "0" when not fetching."""
    if fetch is None:
        return ["0"]
    limiter = fetch.limiter
    return [
        "1",
        fetch.token,
        fetch.lock_duration_ms,
        limiter.max if limiter else "",
        limiter.duration_ms if limiter else "",
        fetch.worker_name or "",
        (now + 1) * 4096 - 1,
    ]


_NOT_FETCHING = ["0", "", "", "", "", "", ""]


def _fetch_block(fetch: FetchRequest | None, now: int) -> list[Any]:
    """A job's fetch values in a move_to_finished call: always seven."""
    return _NOT_FETCHING if fetch is None else _fetch_argv(fetch, now)


_FINISH_BATCH = 8
"""At most this many finishes in one move_to_finished call. Smaller calls keep the
worker and Redis busy at once: while Redis runs one call, the worker handles the
previous call's replies and runs those jobs. At concurrency 16 on 20,000 no-op
jobs, calls of at most 8 ran 10,300-11,300 jobs/s against 6,650-7,050 with
calls of up to 64, alternating on the same machine."""


class _Finishing:
    """Jobs of one queue to finish in one move_to_finished call: the finishes asked
    for while the event loop runs its ready callbacks (several slots of a worker
    whose jobs ended at about the same time), sent together on the next turn."""

    __slots__ = ("futures", "job_keys", "loop", "values")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.job_keys: list[str] = []
        self.values: list[Any] = []
        self.futures: list[asyncio.Future[Any]] = []


def _not_a_job(job_id: str, operation: str) -> None:
    """Refuse, as for a missing job, an id that names one of the queue's own keys:
    ``<base>meta`` is the queue's meta hash, never a job, whoever listed it."""
    if job_id in RESERVED_JOB_IDS:
        raise error_from_code(ErrorCode.JOB_NOT_EXIST, job_id=job_id, operation=operation)


def _outcome_args(outcome: Completed | Failed) -> list[Any]:
    keep = outcome.keep
    age = "" if keep.age_ms is None else keep.age_ms
    points = outcome.metrics_max_points or ""
    if isinstance(outcome, Completed):
        return ["completed", outcome.return_value, "", keep.count, age, 0, points]
    return [
        "failed",
        outcome.reason,
        outcome.stacktrace,
        keep.count,
        age,
        outcome.attempts,
        points,
    ]


class RedisBackend:
    """Queues stored in Redis under ``prefix`` (default ``bull``, as Node BullMQ).

    ``url``: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://…`` (TLS)
    or ``unix:///path/redis.sock``, with the query parameters listed in
    :mod:`corral.backends.redis.settings` (``socket_timeout``,
    ``socket_connect_timeout``, ``db``, the ``ssl_*`` ones); corral reads it
    itself, and a URL it cannot read fails here. ``connection``: a
    :class:`~corral.backends.redis.connection.RedisConnection` to use instead of
    opening one from ``url`` (which then only names the store in messages);
    blocking commands go to its ``dedicated()`` connections, and corral never
    closes it. Nothing is connected until the first operation; :meth:`close`
    releases every connection corral opened.
    """

    def __init__(
        self, url: str, *, prefix: str = "bull", connection: RedisConnection | None = None
    ) -> None:
        self._setup(url, prefix, Connections(url, connection), owner=True)

    def _setup(self, url: str, prefix: str, connections: Connections, *, owner: bool) -> None:
        self.url = mask_url(url)
        self.prefix = validate_prefix(prefix)
        self._connections = connections
        self._owner = owner
        self._keys: dict[str, QueueKeys] = {}
        self._versioned: set[str] = set()
        """Queues whose meta ``version`` this backend wrote (once each, as a Node Queue)."""
        self._finishing: dict[str, _Finishing] = {}
        """Per queue, the finishes waiting to be sent together (see :meth:`_finish`)."""
        self._finish_heads: dict[tuple[str, int], CommandHead] = {}
        self._finish_tasks: set[asyncio.Task[None]] = set()
        self._finishes_out = 0
        """move_to_finished calls sent and not answered yet (see :meth:`_finish`)."""

    def share(self, prefix: str) -> RedisBackend:
        """A backend for queues under ``prefix`` on this backend's connections; its
        :meth:`close` releases nothing (this backend's own close does)."""
        shared = RedisBackend.__new__(RedisBackend)
        shared._setup(self.url, prefix, self._connections, owner=False)
        return shared

    def __repr__(self) -> str:
        return f"RedisBackend({self.url!r}, prefix={self.prefix!r})"

    # -- plumbing ---------------------------------------------------------------

    @property
    def redis(self) -> RedisConnection:
        """The shared, pipelined connection, opened on first use."""
        return self._connections.shared

    def keys(self, queue: str) -> QueueKeys:
        """The key names of ``queue`` (cached)."""
        keys = self._keys.get(queue)
        if keys is None:
            if self._connections.cluster:
                check_queue_slot(self.prefix, queue)
            keys = self._keys[queue] = QueueKeys(self.prefix, queue)
        return keys

    async def _run(
        self,
        name: str,
        queue: str,
        args: Sequence[Any],
        *,
        job_id: str | None = None,
        more_keys: Sequence[str] = (),
    ) -> Any:
        """Run script ``name`` on ``queue``'s keys. ``job_id``: the job whose keys
        the script declares (``job``, ``job:<suffix>``); ``more_keys``: keys after
        the queue's that only the call knows (several jobs' keys, say)."""
        script = load_script(name)
        keys = self.keys(queue)
        assert len(more_keys) >= len(script.call_keys), f"{name}: pass its {script.call_keys}"
        if script.job_keys:
            assert job_id is not None, f"{name} declares job KEYS: pass job_id"
            args = [*script.job_key_names(keys.job(job_id)), *args]
        if more_keys:
            head = script.head([*keys.for_script(script.name, script.keys), *more_keys])
        else:
            head = keys.script_head(script)
        try:
            return await self._call(script, head, args, durable=name not in _READ_ONLY)
        except RedisError as exc:
            raise _failure(f"redis {name} on queue {queue!r} failed: {exc}", exc) from exc

    async def _call(
        self, script: Script, head: CommandHead, args: Sequence[Any], *, durable: bool = True
    ) -> Any:
        """Run ``script``; a write waits for ``min_replicas`` replicas when asked to."""
        replicas, wait_ms = self._connections.min_replicas
        if replicas and durable:
            return await run_durably(script, self.redis, head, args, replicas, wait_ms)
        return await script.run(self.redis, head, args)

    async def _command(self, queue: str, *args: Any) -> Any:
        try:
            return await self.redis.execute(*args)
        except RedisError as exc:
            raise _failure(f"redis {args[0]} on queue {queue!r} failed: {exc}", exc) from exc

    # -- adding -----------------------------------------------------------------

    async def add_jobs(self, queue: str, jobs: Sequence[NewJob]) -> list[str]:
        """Add ``jobs`` in one script call.

        The whole batch is one atomic step, however large: atomicity is the
        contract, and Redis handles tens of thousands of jobs in one script.
        """
        if not jobs:
            return []
        if queue not in self._versioned:
            # Node's Queue writes meta.version when it is made; corral's first add does.
            # Tools read it to learn what wrote the queue.
            meta = self.keys(queue).key("meta")
            await self._command(queue, "HSET", meta, "version", _VERSION)
            self._versioned.add(queue)
        if any(job.parent is not None for job in jobs):
            # add_jobs takes no `now`: a parent released here is delayed from the
            # batch's creation time.
            entries = [FlowEntry(queue, job) for job in jobs]
            now = max(job.timestamp_ms for job in jobs)
            return await flows.add_flow(self, entries, now, operation="add")
        keys = self.keys(queue)
        args: list[Any] = [keys.base]
        # KEYS after the queue's: custom ids' hashes, de:/dn: keys (known before the call).
        call_keys: list[str] = []
        first = len(load_script("add_jobs").keys) + 1
        for job in jobs:
            args += new_job_args(job)
            rule = job.deduplication
            if rule is None:
                args += ("", "")
            else:
                args += (json.dumps(rule.wire()), first + len(call_keys))
                call_keys += (f"{keys.base}de:{rule.id}", f"{keys.base}dn:{rule.id}")
            if job.job_id:
                args.append(first + len(call_keys))
                call_keys.append(keys.job(job.job_id))
            else:
                args.append("")
        ids: list[str] = await self._run("add_jobs", queue, args, more_keys=call_keys)
        return ids

    async def add_flow(self, entries: Sequence[FlowEntry], now: int) -> list[str]:
        """Add trees of jobs in one script call (``lua/add_flow.lua``)."""
        return await flows.add_flow(self, entries, now, operation="add_flow")

    # -- fetching and finishing --------------------------------------------------

    async def move_to_active(self, queue: str, fetch: FetchRequest, now: int) -> Fetched:
        """Promote due delayed jobs, then take and lock the next job."""
        args = [self.keys(queue).base, now, *_fetch_argv(fetch, now)[1:]]
        return await self._fetched(
            queue, await self._run("move_to_active", queue, args), fetch, now
        )

    async def _fetched(self, queue: str, reply: Any, fetch: FetchRequest, now: int) -> Fetched:
        """The fetch result in a script's ``reply``.

        A fetched job whose fields cannot be read (it is active and locked with
        ``fetch.token`` by now) is failed at once with the reason, and the next
        job is fetched in the same script call, until a readable job or none.
        """
        while True:
            try:
                return parse_fetched(reply)
            except CorruptJobError as exc:
                reply = await self._fail_unreadable(queue, exc, fetch, now)

    async def _fail_unreadable(
        self, queue: str, exc: CorruptJobError, fetch: FetchRequest, now: int
    ) -> Any:
        """Fail the unreadable job of ``exc`` and fetch the next; return the fetch reply."""
        # keep all, no retries-exhausted (attempts ""), no metrics: the job's options
        # are unread.
        outcome = ["failed", str(exc), "[]", -1, "", "", ""]
        fetch_argv = _fetch_argv(fetch, now)
        reply = await self._finish(
            queue, exc.job_id, [exc.job_id, fetch.token, now, *outcome, *fetch_argv]
        )
        if type(reply) is list and len(reply) == 4:
            return reply
        # Refused: the lock expired meanwhile and the job is the stalled checker's.
        base = self.keys(queue).base
        return await self._run("move_to_active", queue, [base, now, *fetch_argv[1:]])

    async def move_to_finished(
        self,
        queue: str,
        job_id: str,
        token: str,
        outcome: Completed | Failed,
        now: int,
        fetch: FetchRequest | None = None,
    ) -> Fetched | None:
        """Complete or fail an active job; optionally fetch the next one.

        Finishes asked for on the same turn of the event loop (several slots whose
        jobs ended together) go to Redis in one script call, each job with its
        own checks and its own reply (see :meth:`_finish`)."""
        _not_a_job(job_id, "move_to_finished")
        values = [job_id, token, now, *_outcome_args(outcome), *_fetch_block(fetch, now)]
        reply = await self._finish(queue, job_id, values)
        refusal(reply, job_id=job_id, operation="move_to_finished")
        if fetch is None:
            return None
        return await self._fetched(queue, reply, fetch, now)

    def _finish(self, queue: str, job_id: str, values: list[Any]) -> asyncio.Future[Any]:
        """The reply of move_to_finished for one job (``values``: its 17 ARGV).

        With no move_to_finished call in flight (Redis is idle, as at concurrency
        1) the job is sent at once. Otherwise it joins the queue's pending batch
        (one is started, and sent on the event loop's next turn, when there is
        none): every finish asked for before then is sent in the same script call
        (up to ``_FINISH_BATCH``). Each caller gets its own job's reply, or the
        call's error."""
        loop = asyncio.get_running_loop()
        batch = self._finishing.get(queue)
        at_once = False
        if batch is None or batch.loop is not loop or len(batch.futures) >= _FINISH_BATCH:
            batch = _Finishing(loop)
            # With no finish in flight Redis is idle: waiting for the end of the
            # turn gains nothing (one finish at a time, as at concurrency 1). The
            # finishes asked for later in this turn gather while this one runs.
            at_once = not self._finishes_out
            if not at_once:
                self._finishing[queue] = batch
                loop.call_soon(self._send_finishing, queue, batch)
        future: asyncio.Future[Any] = loop.create_future()
        batch.job_keys += load_script("move_to_finished").job_key_names(
            self.keys(queue).job(job_id)
        )
        batch.values += values
        batch.futures.append(future)
        if at_once:
            self._send_finishing(queue, batch)
        return future

    def _send_finishing(self, queue: str, batch: _Finishing) -> None:
        """Send ``batch`` now, from this loop callback, when the connection is open
        and no replica must confirm it: the reply is handed out by a callback, with
        no task to start and no loop turn before the write. Otherwise (connecting,
        waiting for replicas, a connection of another kind) a task runs it."""
        if self._finishing.get(queue) is batch:
            del self._finishing[queue]
        self._finishes_out += 1
        client = self.redis
        if type(client) is RedisClient and not self._connections.min_replicas[0]:
            head, args = self._finishing_call(queue, batch)
            replied = Replied(functools.partial(self._finishing_replied, queue, batch))
            if client.send_now(head, args, replied):
                return
        self._start_finishing(queue, batch)

    def _start_finishing(self, queue: str, batch: _Finishing) -> None:
        task = batch.loop.create_task(self._run_finishing(queue, batch))
        self._finish_tasks.add(task)
        task.add_done_callback(self._finish_tasks.discard)

    def _finishing_call(self, queue: str, batch: _Finishing) -> tuple[CommandHead, list[Any]]:
        """The script head and arguments of ``batch``'s move_to_finished call."""
        count = len(batch.futures)
        keys = self.keys(queue)
        head = self._finish_heads.get((queue, count))
        if head is None:
            script = load_script("move_to_finished")
            head = script.head(keys.for_script(script.name, script.keys), count)
            if len(self._finish_heads) < 1024:
                self._finish_heads[(queue, count)] = head
        return head, [*batch.job_keys, keys.base, *batch.values]

    def _finishing_replied(
        self, queue: str, batch: _Finishing, reply: Any, error: BaseException | None
    ) -> None:
        """Hand out the reply of a batch sent by :meth:`_send_finishing` (called as
        the reply is read: the callers resume on the loop's next turn)."""
        if isinstance(error, RedisReplyError) and str(error).startswith("NOSCRIPT"):
            # The script did not run (the server does not know it yet): load and run it.
            self._start_finishing(queue, batch)
            return
        self._finishes_out -= 1
        self._deliver(queue, batch.futures, reply, error)

    async def _run_finishing(self, queue: str, batch: _Finishing) -> None:
        """Send ``batch`` as one move_to_finished call; hand each caller its reply."""
        head, args = self._finishing_call(queue, batch)
        try:
            replies = await self._call(load_script("move_to_finished"), head, args)
        except asyncio.CancelledError:
            for future in batch.futures:
                future.cancel()
            raise
        except Exception as exc:
            self._deliver(queue, batch.futures, None, exc)
            return
        finally:
            self._finishes_out -= 1
        self._deliver(queue, batch.futures, replies, None)

    def _deliver(
        self,
        queue: str,
        futures: list[asyncio.Future[Any]],
        replies: Any,
        error: BaseException | None,
    ) -> None:
        """Give each caller of a move_to_finished call its own reply, or the call's
        error (a reply without one answer per job fails them all)."""
        if error is None and (type(replies) is not list or len(replies) != len(futures)):
            error = BackendError(
                f"redis move_to_finished on queue {queue!r} answered {replies!r} "
                f"for {len(futures)} jobs"
            )
        if error is not None:
            if isinstance(error, RedisError):
                error = _failure(
                    f"redis move_to_finished on queue {queue!r} failed: {error}", error
                )
            for future in futures:
                if not future.done():
                    future.set_exception(error)
            return
        for future, reply in zip(futures, replies, strict=True):  # lengths checked above
            if not future.done():
                future.set_result(reply)

    async def retry_job(
        self,
        queue: str,
        job_id: str,
        token: str,
        retry: Retry,
        now: int,
        fetch: FetchRequest | None = None,
    ) -> Fetched | None:
        """Record a failed attempt and put the job back, now or after ``retry.delay``."""
        _not_a_job(job_id, "retry_job")
        base = self.keys(queue).base
        args = [base, job_id, token, now, retry.reason, retry.stacktrace, retry.delay_ms]
        fetch_argv = _fetch_argv(fetch, now)
        reply = await self._run("retry_job", queue, [*args, *fetch_argv], job_id=job_id)
        refusal(reply, job_id=job_id, operation="retry_job")
        return None if fetch is None else await self._fetched(queue, reply, fetch, now)

    async def move_to_waiting_children(
        self, queue: str, job_id: str, token: str, now: int, child_key: str | None = None
    ) -> bool:
        """Park an active job in waiting-children while it has pending children."""
        return await flows.move_to_waiting_children(self, queue, job_id, token, now, child_key)

    async def move_to_wait(self, queue: str, job_id: str, token: str, now: int) -> int:
        """Put an active job back at the front of its line; return the limiter's ms left."""
        _not_a_job(job_id, "move_to_wait")
        reply = await self._run("move_to_wait", queue, [job_id, token], job_id=job_id)
        refusal(reply, job_id=job_id, operation="move_to_wait")
        return int(reply)

    async def extend_lock(
        self, queue: str, job_id: str, token: str, duration_ms: int, now: int
    ) -> None:
        """Make the job's lock expire ``duration_ms`` ms from now (server clock) if
        ``token`` holds it."""
        _not_a_job(job_id, "extend_lock")
        reply = await self._run("extend_lock", queue, [job_id, token, duration_ms], job_id=job_id)
        refusal(reply, job_id=job_id, operation="extend_lock")

    async def extend_locks(
        self, queue: str, locks: Sequence[tuple[str, str]], duration_ms: int, now: int
    ) -> dict[str, ErrorCode]:
        """Extend many locks in one step; return the refused ones with their codes."""
        refused = {j: ErrorCode.JOB_NOT_EXIST for j, _ in locks if j in RESERVED_JOB_IDS}
        locks = [(j, t) for j, t in locks if j not in refused]
        if not locks:
            return refused
        keys = self.keys(queue)
        args: list[Any] = [duration_ms]
        job_keys: list[str] = []
        for job_id, token in locks:
            args += (job_id, token)
            job_keys += (keys.job(job_id), keys.lock(job_id))
        flat = await self._run("extend_locks", queue, args, more_keys=job_keys)
        it = iter(flat)
        return {job_id: ErrorCode(code) for job_id, code in zip(it, it, strict=True)} | refused

    async def move_stalled_to_wait(
        self, queue: str, max_stalled_count: int, stalled_interval_ms: int, now: int
    ) -> list[str]:
        """Run the stalled checker (at most once per interval); return the requeued ids."""
        args = [self.keys(queue).base, max_stalled_count, now, stalled_interval_ms]
        requeued: list[str] = await self._run("move_stalled_to_wait", queue, args)
        return requeued

    # -- reading -----------------------------------------------------------------

    async def get_job(self, queue: str, job_id: str) -> JobRecord | None:
        """The stored job, or None (never one of the queue's own keys)."""
        if job_id in RESERVED_JOB_IDS:
            return None
        fields = await self._command(queue, "HGETALL", self.keys(queue).job(job_id))
        return parse_job(job_id, pairs(fields)) if fields else None

    async def get_state(self, queue: str, job_id: str) -> JobState:
        """The job's state (``UNKNOWN`` when there is no such job)."""
        if job_id in RESERVED_JOB_IDS:
            return JobState.UNKNOWN
        state = await self._run("get_state", queue, [job_id], job_id=job_id)
        return JobState(state)

    async def get_counts(self, queue: str, states: Sequence[JobState]) -> dict[JobState, int]:
        """How many jobs are in each of ``states`` (``UNKNOWN`` counts 0)."""
        asked = [s for s in states if s is not JobState.UNKNOWN]
        counts: dict[JobState, int] = dict.fromkeys(states, 0)
        if asked:
            suffixes = [_STATE_SUFFIX.get(s, s.value) for s in asked]
            keys = self.keys(queue)
            state_keys = [keys.key(s) for s in suffixes]
            reply = await self._run("get_counts", queue, suffixes, more_keys=state_keys)
            counts.update(zip(asked, map(int, reply), strict=True))
        return counts

    async def read_events(
        self, queue: str, after: str | None, *, count: int = 100, block_ms: int = 0
    ) -> list[Event]:
        """Events after cursor ``after`` (None: only new ones), blocking up to ``block_ms`` ms."""
        args: list[Any] = ["XREAD", "COUNT", count]
        client = self.redis
        if block_ms > 0:
            args += ["BLOCK", block_ms]
            client = self._connections.events(self.prefix, queue)
        args += ["STREAMS", self.keys(queue).key("events"), after or "$"]
        try:
            reply = await client.execute(*args)
        except RedisError as exc:
            raise _failure(f"redis XREAD on queue {queue!r} failed: {exc}", exc) from exc
        return parse_events(reply)

    async def events_cursor(self, queue: str) -> str:
        """The id of the newest event (``"0"`` when there is none)."""
        events = self.keys(queue).key("events")
        newest = await self._command(queue, "XREVRANGE", events, "+", "-", "COUNT", 1)
        return str(newest[0][0]) if newest else "0"

    async def get_jobs(
        self, queue: str, states: Sequence[JobState], start: int = 0, end: int = -1
    ) -> list[JobRecord]:
        """Jobs in ``states``, state after state, sliced ``[start, end]`` over them all."""
        suffixes = [_STATE_SUFFIX.get(s, s.value) for s in states if s is not JobState.UNKNOWN]
        if not suffixes:
            return []
        keys = self.keys(queue)
        state_keys = [keys.key(s) for s in suffixes]
        reply = await self._run("get_jobs", queue, [start, end, *suffixes], more_keys=state_keys)
        return parse_jobs(reply)

    async def get_dependencies(
        self,
        queue: str,
        job_id: str,
        *,
        limit: int | None = None,
        cursors: Mapping[DependencyBucket, str] | None = None,
    ) -> DependencyPage:
        """A page of the job's children in each bucket."""
        return await flows.get_dependencies(self, queue, job_id, limit, cursors)

    async def get_dependency_counts(self, queue: str, job_id: str) -> DependencyCounts:
        """How many children the job has in each bucket."""
        return await flows.get_dependency_counts(self, queue, job_id)

    async def get_logs(
        self, queue: str, job_id: str, start: int = 0, end: int = -1
    ) -> tuple[list[str], int]:
        """The job's log lines ``[start, end]`` (oldest first) and how many there are."""
        if job_id in RESERVED_JOB_IDS:
            return [], 0
        logs = self.keys(queue).job(job_id) + ":logs"
        try:
            replies = await self.redis.execute_many(
                [("MULTI",), ("LRANGE", logs, start, end), ("LLEN", logs), ("EXEC",)]
            )
            lines, count = replies[-1]
        except RedisError as exc:
            raise _failure(f"redis LRANGE on queue {queue!r} failed: {exc}", exc) from exc
        return list(lines), int(count)

    async def get_metrics(self, queue: str, kind: str, start: int, end: int) -> MetricsPage:
        """The queue's per-minute metrics of ``kind`` (BullMQ's ``metrics:<kind>`` keys)."""
        meta, data, points = await self._run("get_metrics", queue, [kind, start, end])
        count, prev_ts, prev_count = (int(v) if v else 0 for v in meta)
        return MetricsPage(count, prev_ts, prev_count, [int(v) for v in data], int(points))

    async def list_queues(self) -> list[str]:
        """Names of the queues under this prefix that have any key, sorted (SCAN)."""
        head = self.prefix + ":"
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", head) + "*"
        names: set[str] = set()
        try:
            cursor = "0"
            while True:
                cursor, keys = await self.redis.execute(
                    "SCAN", cursor, "MATCH", pattern, "COUNT", 1000
                )
                for key in keys:
                    name = key[len(head) :].split(":", 1)[0]
                    if name:  # "<prefix>::relay..." keys belong to no queue
                        names.add(name)
                if cursor == "0":
                    break
        except RedisError as exc:
            raise _failure(f"redis SCAN for queues failed: {exc}", exc) from exc
        return sorted(names)

    # -- changing one job ----------------------------------------------------------

    async def update_progress(self, queue: str, job_id: str, progress: str) -> None:
        """Store ``progress`` (JSON text) on the job. Event ``progress``."""
        _not_a_job(job_id, "update_progress")
        reply = await self._run("update_progress", queue, [job_id, progress], job_id=job_id)
        refusal(reply, job_id=job_id, operation="update_progress")

    async def add_log(self, queue: str, job_id: str, line: str, keep: int | None = None) -> int:
        """Append a log line (keeping the newest ``keep``); return the job's line count."""
        _not_a_job(job_id, "add_log")
        args = [line, "" if keep is None else keep]
        reply = await self._run("add_log", queue, args, job_id=job_id)
        refusal(reply, job_id=job_id, operation="add_log")
        return int(reply)

    async def remove_job(
        self, queue: str, job_id: str, now: int, *, remove_children: bool = True
    ) -> bool:
        """Remove the job and its keys (and its descendants); False when there is no such job."""
        if job_id in RESERVED_JOB_IDS:
            return False
        args = [self.keys(queue).base, job_id, "1" if remove_children else "0", now]
        reply = await self._run("remove_job", queue, args, job_id=job_id)
        refusal(reply, job_id=job_id, operation="remove_job")
        return bool(reply)

    async def promote(self, queue: str, job_id: str) -> None:
        """Move a delayed job into its line now."""
        _not_a_job(job_id, "promote")
        reply = await self._run("promote", queue, [job_id], job_id=job_id)
        refusal(reply, job_id=job_id, operation="promote")

    async def reprocess_job(
        self, queue: str, job_id: str, state: JobState, *, reset_attempts: bool
    ) -> None:
        """Run a completed or failed job again (the script refuses any other ``state``)."""
        _not_a_job(job_id, "reprocess_job")
        args = [job_id, state.value, "1" if reset_attempts else "0"]
        reply = await self._run("reprocess_job", queue, args, job_id=job_id)
        expected = state.value if state in _FINISHED else "completed or failed"
        refusal(reply, job_id=job_id, operation="reprocess_job", expected=expected)

    # -- queue-wide --------------------------------------------------------------

    async def rate_limit(self, queue: str, duration_ms: int, now: int) -> None:
        """Stop every worker of the queue from taking jobs for ``duration_ms`` ms."""
        limiter = self.keys(queue).key("limiter")
        await self._command(queue, "SET", limiter, "9007199254740991", "PX", duration_ms)

    async def get_rate_limit_ttl(self, queue: str, now: int) -> int:
        """ms left on the queue's rate limit (0 when not limited)."""
        return int(await self._run("get_rate_limit_ttl", queue, []))

    async def pause(self, queue: str) -> None:
        """Stop handing out jobs; jobs stay in wait."""
        await self._run("pause", queue, [])

    async def resume(self, queue: str) -> None:
        """Hand out jobs again, migrating a legacy BullMQ 5 ``paused`` list."""
        left = await self._run("resume", queue, ["1"])
        while left > 0:
            left = await self._run("resume", queue, ["0"])

    async def is_paused(self, queue: str) -> bool:
        """Whether the queue is paused."""
        meta = self.keys(queue).key("meta")
        return bool(await self._command(queue, "HEXISTS", meta, "paused"))

    async def obliterate(self, queue: str, *, force: bool) -> None:
        """Remove the paused queue and its jobs, in batches."""
        args = [self.keys(queue).base, _OBLITERATE_BATCH, "force" if force else ""]
        while True:
            reply = await self._run("obliterate", queue, args)
            refusal(reply, queue=queue, operation="obliterate")
            if reply == 0:
                return

    # -- waiting for work ----------------------------------------------------------

    async def wait_for_job(self, queue: str, timeout_ms: int) -> int | None:
        """Block on the queue's marker for up to ``timeout_ms`` ms (BZPOPMIN).

        One blocking connection per queue, like a Node worker's: concurrent waits
        on the same queue through one backend take turns on it.
        """
        client = self._connections.marker(self.prefix, queue)
        seconds = max(timeout_ms / 1000, 0.001)
        try:
            reply = await client.execute("BZPOPMIN", self.keys(queue).key("marker"), seconds)
        except RedisError as exc:
            raise _failure(f"redis BZPOPMIN on queue {queue!r} failed: {exc}", exc) from exc
        if not reply:
            return None
        _, member, score = reply
        return 0 if member == "0" else int(float(score))

    async def wait_and_fetch(
        self, queue: str, timeout_ms: int, fetch: FetchRequest
    ) -> tuple[int | None, Fetched | None]:
        """Block on the queue's marker and fetch as soon as it wakes, in one round trip.

        The fetch (``move_to_active`` on the server's clock) is sent right behind the
        ``BZPOPMIN`` on the marker connection, so Redis runs it the moment the pop
        returns instead of after the worker hears of the wake-up and asks. Where the
        connection cannot queue commands behind a blocking one (Cluster, Sentinel, a
        given connection) or writes wait for replicas, it waits and leaves the fetch
        to the caller. If the caller stops waiting, the pop is unblocked, the fetch's
        reply is still read and the job it took, if any, is given back to wait.
        """
        client = self._connections.marker(self.prefix, queue)
        if type(client) is not RedisClient or self._connections.min_replicas[0]:
            return await self.wait_for_job(queue, timeout_ms), None
        keys = self.keys(queue)
        script = load_script("move_to_active")
        args = [keys.base, "", *_fetch_argv(fetch, 0)[1:]]
        pop = ("BZPOPMIN", keys.key("marker"), max(timeout_ms / 1000, 0.001))
        try:
            client_id, popping, fetching = await client.block_then(
                pop, keys.script_head(script), args
            )
        except RedisError as exc:
            raise _failure(f"redis BZPOPMIN on queue {queue!r} failed: {exc}", exc) from exc
        # When the pop fails, the fetch fails with it, and only the pop's error is told.
        fetching.add_done_callback(_mark_read)
        try:
            popped = await popping
        except asyncio.CancelledError:
            self._reclaim(queue, client_id, popping, fetching, fetch)
            raise
        except RedisError as exc:
            raise _failure(f"redis BZPOPMIN on queue {queue!r} failed: {exc}", exc) from exc
        try:
            reply = await asyncio.shield(fetching)
        except asyncio.CancelledError:
            self._reclaim(queue, client_id, popping, fetching, fetch)
            raise
        except RedisError as exc:
            if isinstance(exc, RedisReplyError) and str(exc).startswith("NOSCRIPT"):
                return 0, None  # not loaded yet: the caller fetches, which loads it
            raise _failure(f"redis move_to_active on queue {queue!r} failed: {exc}", exc) from exc
        woke: int | None = None
        if popped:
            woke = 0 if popped[1] == "0" else int(float(popped[2]))
        fetched = await self._fetched(queue, reply, fetch, _clock.now_ms())
        return (0 if fetched.job is not None else woke), fetched

    def _reclaim(
        self,
        queue: str,
        client_id: int,
        popping: asyncio.Future[Any],
        fetching: asyncio.Future[Any],
        fetch: FetchRequest,
    ) -> None:
        """Give back what a fetch queued behind an abandoned marker pop takes."""

        async def reclaim() -> None:
            if not popping.done() or popping.cancelled():
                # End the pop now (as a timeout), so the fetch runs and answers.
                with contextlib.suppress(RedisReplyError, RedisConnectionError):
                    await self.redis.execute("CLIENT", "UNBLOCK", client_id)
            try:
                fetched = parse_fetched(await fetching)
            except (RedisReplyError, RedisConnectionError, CorruptJobError):
                return  # not run, or its job is unreadable: it stalls back
            if fetched.job is not None:
                with contextlib.suppress(BackendError):
                    await self.move_to_wait(queue, fetched.job.id, fetch.token, _clock.now_ms())

        task = asyncio.ensure_future(reclaim())
        reclaiming = self._connections.reclaiming
        reclaiming.add(task)
        task.add_done_callback(reclaiming.discard)

    async def change_delay(self, queue: str, job_id: str, delay_ms: int, now: int) -> None:
        """Make a delayed job due ``delay_ms`` from now."""
        await admin.change_delay(self, queue, job_id, delay_ms, now)

    async def change_priority(self, queue: str, job_id: str, priority: int, lifo: bool) -> None:
        """Give a job a new priority (moving it if it waits)."""
        await admin.change_priority(self, queue, job_id, priority, lifo)

    async def update_data(self, queue: str, job_id: str, data: str) -> None:
        """Replace a job's data."""
        await admin.update_data(self, queue, job_id, data)

    async def move_to_delayed(
        self, queue: str, job_id: str, token: str, delay_ms: int, now: int
    ) -> None:
        """Put an active job in delayed without using an attempt."""
        await admin.move_to_delayed(self, queue, job_id, token, delay_ms, now)

    # -- maintenance and queue settings (see .admin) -----------------------------------

    async def clean(
        self,
        queue: str,
        state: JobState,
        before_ms: int,
        limit: int,
        now: int,
        cursor: tuple[int, ...] = (),
    ) -> CleanBatch:
        """Remove up to ``limit`` old jobs of ``state`` (``lua/clean.lua``)."""
        return await admin.clean(self, queue, state, before_ms, limit, now, cursor)

    async def drain(self, queue: str, delayed: bool, limit: int, now: int) -> int:
        """Remove up to ``limit`` waiting (and delayed) jobs (``lua/drain.lua``)."""
        return await admin.drain(self, queue, delayed, limit, now)

    async def move_jobs_to_wait(
        self, queue: str, state: JobState, before_ms: int, limit: int
    ) -> int:
        """Put up to ``limit`` finished or delayed jobs back in their line."""
        return await admin.move_jobs_to_wait(self, queue, state, before_ms, limit)

    async def trim_events(self, queue: str, max_length: int) -> None:
        """Keep the newest ``max_length`` events (XTRIM)."""
        await admin.trim_events(self, queue, max_length)

    async def set_global_concurrency(self, queue: str, concurrency: int | None) -> None:
        """Set or remove meta ``concurrency``."""
        await admin.set_global_concurrency(self, queue, concurrency)

    async def set_global_rate_limit(self, queue: str, limit: Limiter | None) -> None:
        """Set or remove meta ``max`` / ``duration``."""
        await admin.set_global_rate_limit(self, queue, limit)

    async def get_global_limits(self, queue: str) -> GlobalLimits:
        """The queue's global limits from meta."""
        return await admin.get_global_limits(self, queue)

    async def worker_seen(self, queue: str, worker: WorkerRecord, now: int) -> None:
        """Open the worker's blocking connection under its Node-style name (once)."""
        if not self._connections.has_marker(self.prefix, queue):
            # Redis refuses a client name with spaces or non-ASCII: such a worker is
            # listed unnamed.
            name = worker.name
            if name is not None and not all("!" <= c <= "~" for c in name):
                name = None
            client = self._connections.marker(self.prefix, queue, name)
            try:
                await client.execute("PING")
            except RedisError as exc:
                raise _failure(f"redis PING on queue {queue!r} failed: {exc}", exc) from exc

    async def worker_gone(self, queue: str, worker_id: str) -> None:
        """Nothing to do: the worker's connection goes when it closes."""

    async def get_workers(self, queue: str, now: int) -> list[WorkerRecord]:
        """The clients named as workers of the queue (CLIENT LIST)."""
        return await admin.get_workers(self, queue, now)

    async def close(self) -> None:
        """Close every connection corral opened (none for a backend made by
        :meth:`share`); safe to call more than once."""
        if self._owner:
            await self._connections.close()

    # -- job schedulers --------------------------------------------------------------

    async def upsert_job_scheduler(
        self, queue: str, scheduler: SchedulerSpec, iteration: SchedulerIteration, now: int
    ) -> tuple[str, int]:
        """Store a scheduler and add its next iteration (``upsert_job_scheduler.lua``)."""
        return await schedulers.upsert_job_scheduler(self, queue, scheduler, iteration, now)

    async def add_next_iteration(
        self,
        queue: str,
        scheduler_id: str,
        producer_id: str,
        iteration: SchedulerIteration,
        now: int,
    ) -> str | None:
        """Add a scheduler's next iteration once its current one started."""
        return await schedulers.add_next_iteration(
            self, queue, scheduler_id, producer_id, iteration, now
        )

    async def remove_job_scheduler(self, queue: str, scheduler_id: str) -> bool:
        """Remove a scheduler and its pending delayed iteration."""
        return await schedulers.remove_job_scheduler(self, queue, scheduler_id)

    async def get_job_scheduler(self, queue: str, scheduler_id: str) -> SchedulerRecord | None:
        """The stored scheduler, or None."""
        return await schedulers.get_job_scheduler(self, queue, scheduler_id)

    async def get_job_schedulers(
        self, queue: str, start: int = 0, end: int = -1, *, asc: bool = True
    ) -> list[SchedulerRecord]:
        """Schedulers by next run, sliced ``[start, end]``."""
        return await schedulers.get_job_schedulers(self, queue, start, end, asc)

    async def get_job_schedulers_count(self, queue: str) -> int:
        """How many schedulers the queue has."""
        return await schedulers.get_job_schedulers_count(self, queue)

    # -- cancellation ----------------------------------------------------------------

    async def cancel_job(
        self, queue: str, job_id: str, reason: str, now: int, keep: KeepJobs
    ) -> JobState:
        """Fail a job not yet running, or mark a running one for its worker."""
        return await cancel.cancel_job(self, queue, job_id, reason, now, keep)

    async def get_cancel_requests(self, queue: str, job_ids: Sequence[str]) -> dict[str, str]:
        """The jobs of ``job_ids`` marked to be cancelled, with their reasons."""
        return await cancel.get_cancel_requests(self, queue, job_ids)

    # -- deduplication -------------------------------------------------------------

    async def get_deduplication_job_id(self, queue: str, dedup_id: str, now: int) -> str | None:
        """GET of the ``de:<id>`` key (it expires by the server's clock)."""
        found = await self._command(queue, "GET", f"{self.keys(queue).base}de:{dedup_id}")
        return None if found is None else str(found)

    async def remove_deduplication_key(self, queue: str, dedup_id: str) -> bool:
        """DEL of the ``de:<id>`` key, as Node's ``removeDeduplicationKey``."""
        key = f"{self.keys(queue).base}de:{dedup_id}"
        return bool(await self._command(queue, "DEL", key))
