"""The contract between corral's API and its storage backends.

A backend is a small set of **semantic** operations on jobs. Every operation is
one atomic step (one Lua script on Redis, one ``BEGIN IMMEDIATE`` transaction on
SQLite), so two workers can never see a half-moved job.

Rules every backend follows:

* **Units.** Every time and duration here is an integer number of milliseconds,
  and every field or parameter that holds one ends in ``_ms``; timestamps are
  Unix epoch milliseconds. The public API converts from seconds.
* **Two clocks, named per operation.** ``now`` is the *caller's* clock (epoch ms).
  It stamps what is recorded (``processed_on_ms``, ``finished_on_ms``), places
  delayed jobs (``now + delay_ms``) and decides which delayed jobs are due. Lock
  and limiter expiry follow the *store's* clock where the store has one: Redis
  expires them with ``PX`` by its server clock and ignores ``now`` for them;
  SQLite has no clock of its own and judges them by ``now``. Each operation's
  docstring says which of its times are which (``now:`` lines); an operation that
  needs no time takes no ``now``.
* **Policy above, mechanism below.** Whether a failure is retried, after how long,
  and how many finished jobs to keep are decided by the caller and handed in
  (:class:`Retry`, :class:`KeepJobs`); backends only apply them.
* **Refusals are codes.** An operation that is refused changes nothing and raises
  the exception :func:`corral.errors.error_from_code` makes for its
  :class:`~corral.errors.ErrorCode` (BullMQ's codes for job refusals, corral's own
  codes from -100 down for refusals BullMQ does not have), passing the job's
  current state when the store knows it cheaply, so the message can say what the
  job is instead of only what it is not. No backend builds a refusal exception
  any other way.
* **A fetched job is always readable.** Every operation that hands out a job
  (``move_to_active``, and ``move_to_finished`` / ``retry_job`` with ``fetch``)
  fails a fetched job whose stored fields cannot be read, at once, with the
  :class:`~corral.errors.CorruptJobError` text as its reason (event ``failed``, its
  ``stalled_counter`` untouched), and hands out the next job instead. It never
  raises ``CorruptJobError`` for the job it fetched.
* **Payloads are text.** ``data``, ``opts``, ``return_value``, ``progress`` and
  ``stacktrace`` travel as the JSON text that is stored; decoding (and reporting a
  corrupt field) is the API's job.
* **Results are typed.** Operations return the frozen dataclasses below, never a
  store's raw reply.

The job's life, identical on every backend::

    add ──► wait ◄──────────────┐  (prioritized: ordered by priority; delayed: until due)
             │ move_to_active: lock(token, lock_duration)
             ▼                  │ move_to_wait · move_stalled_to_wait · retry_job
           active ──────────────┘
             │ token must hold the lock
       ┌─────┴──────┐
    completed     failed

Order of ``move_to_active``: due delayed jobs are promoted first; then ``lifo``
jobs, then plain jobs oldest first, then prioritized jobs (priority 1 before 2 …,
oldest first within a priority). A job put back by ``move_to_wait`` or by the
stalled checker goes to the front of its line.

Flows (parents and children, BullMQ's layout): a child names its parent by the
parent's *job key* ``<prefix>:<queue>:<id>`` (:class:`ParentLink`), and the
parent keeps four buckets of child keys (:class:`DependencyPage`): unprocessed
(pending), processed (with each child's return value), ignored (failed children
whose failure does not stop the parent, with the reason) and failed (failed
children that fail the parent). A parent with unprocessed children waits in
``waiting-children``; when the last one leaves that bucket it is *released*:
to delayed if it has a delay (due ``now + delay``), else to prioritized, else
to the front of wait, with event ``delayed`` or ``waiting`` (prev
``waiting-children``) in the parent's queue. The parent may be in any queue
and under any prefix of the same store.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from corral.backends.admin_types import CLEAN_WINDOW, CleanBatch, GlobalLimits, WorkerRecord
from corral.backends.flow_types import (
    DependencyBucket,
    DependencyCounts,
    DependencyPage,
    ParentLink,
    ParentPolicy,
)
from corral.errors import ErrorCode

__all__ = [
    "CANCEL_REASON_PREFIX",
    "CLEAN_WINDOW",
    "MAX_PRIORITY",
    "RATE_LIMIT_SENTINEL",
    "STALLED_LIMIT_REASON",
    "WORKER_SEEN_TIMEOUT_MS",
    "Backend",
    "CleanBatch",
    "Completed",
    "DependencyBucket",
    "DependencyCounts",
    "DedupRule",
    "DependencyPage",
    "Event",
    "Failed",
    "Fetched",
    "FetchRequest",
    "FlowEntry",
    "GlobalLimits",
    "JobRecord",
    "JobState",
    "KeepJobs",
    "Limiter",
    "MetricsPage",
    "NewJob",
    "ParentLink",
    "ParentPolicy",
    "Retry",
    "WorkerRecord",
    "SchedulerIteration",
    "SchedulerRecord",
    "SchedulerSpec",
]

MAX_PRIORITY = 2_097_151
"""The largest job priority (2**21 - 1); 0 means "no priority"."""

RATE_LIMIT_SENTINEL = 9_007_199_254_740_991
"""The limiter value ``rate_limit`` stores: no worker takes a job while it stands."""

WORKER_SEEN_TIMEOUT_MS = 35_000
"""A worker not seen for this long is no longer listed (it refreshes every 10 s)."""
CANCEL_REASON_PREFIX = "cancelled: "
"""How the failed reason of a cancelled job starts (``cancelled: <reason>``)."""

STALLED_LIMIT_REASON = "job stalled more than allowable limit"
"""The failure reason of a job that stalled more than ``max_stalled_count`` times."""


class JobState(enum.StrEnum):
    """Where a job is in its life. The values are BullMQ's state names."""

    WAITING = "waiting"
    ACTIVE = "active"
    DELAYED = "delayed"
    PRIORITIZED = "prioritized"
    COMPLETED = "completed"
    FAILED = "failed"
    WAITING_CHILDREN = "waiting-children"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class DedupRule:
    """How an added job is deduplicated: BullMQ 6's ``de`` option, as a store applies it.

    The id is taken (``de:<id>`` on Redis) by the job that owns it: until
    ``ttl_ms`` after it was set, or, with no ttl, until that job finishes. An add
    whose id is taken adds nothing and returns the owner (event ``deduplicated``:
    jobId the owner, deduplicationId, deduplicatedJobId the id the add would have
    had), except: ``replace`` takes the id over from a delayed owner (which is
    removed, event ``removed``); ``extend`` restarts the ttl on each refused add;
    ``keep_last_if_active`` keeps a refused add that meets an active owner aside
    (the latest wins) and adds it when the owner finishes (the id then has no
    ttl); ``reschedule`` moves a delayed owner to the refused add's due time. An
    owner with no ttl that no longer exists frees the id (a stale key).
    """

    id: str
    ttl_ms: int = 0
    """0: no expiry."""
    extend: bool = False
    replace: bool = False
    keep_last_if_active: bool = False
    reschedule: bool = False
    now_ms: int = 0
    """The caller's clock at the add: SQLite judges ttls by it (Redis by ``PX``)."""

    def wire(self) -> dict[str, object]:
        """The ``de`` object as BullMQ stores it in ``opts``."""
        out: dict[str, object] = {"id": self.id}
        if self.ttl_ms > 0:
            out["ttl"] = self.ttl_ms
        for key, value in (
            ("extend", self.extend),
            ("replace", self.replace),
            ("keepLastIfActive", self.keep_last_if_active),
            ("reschedule", self.reschedule),
        ):
            if value:
                out[key] = True
        return out


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job to add, already validated and encoded by the API."""

    name: str
    data: str
    """JSON text of the payload, stored verbatim."""
    opts: str
    """JSON text of the job's options in BullMQ's encoding, stored verbatim."""
    timestamp_ms: int
    """Creation time (epoch ms). A delayed job is due at ``timestamp_ms + delay_ms``."""
    delay_ms: int = 0
    """> 0 puts the job in ``delayed``."""
    priority: int = 0
    """0 (none) … MAX_PRIORITY; > 0 puts the job in ``prioritized`` (once due)."""
    lifo: bool = False
    """Put the job at the front of the line instead of the back."""
    job_id: str | None = None
    """A custom id; None takes the next number from the queue's counter."""
    parent: ParentLink | None = None
    """The job is a child of this (existing, or earlier in the same ``add_flow``) job."""
    deduplication: DedupRule | None = None
    """Add it only if its deduplication id is free (see :class:`DedupRule`)."""


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job as stored, with numbers parsed and JSON fields left as text."""

    id: str
    name: str
    data: str
    opts: str
    timestamp_ms: int
    delay_ms: int = 0
    priority: int = 0
    progress: str | None = None
    attempts_made: int = 0
    attempts_started: int = 0
    stalled_counter: int = 0
    processed_on_ms: int | None = None
    finished_on_ms: int | None = None
    return_value: str | None = None
    failed_reason: str | None = None
    stacktrace: str | None = None
    deferred_failure: str | None = None
    """Set when the job must fail on its next fetch (it stalled too often)."""
    processed_by: str | None = None
    parent: ParentLink | None = None
    """The job's parent, if it is a child in a flow."""


@dataclass(frozen=True, slots=True)
class FlowEntry:
    """One node of the trees :meth:`Backend.add_flow` adds.

    ``job.job_id`` must be set for a node that other entries name as their parent
    (the API gives every flow node an id). ``job.parent`` names the parent: an
    earlier entry of the same call, or an existing job. ``prefix`` None means the
    backend's own prefix.
    """

    queue: str
    job: NewJob
    prefix: str | None = None


@dataclass(frozen=True, slots=True)
class Limiter:
    """At most ``max`` jobs handed out per ``duration_ms``, across every worker of the queue."""

    max: int
    duration_ms: int


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """How a worker asks for a job: the token to lock it with, for how long."""

    token: str
    lock_duration_ms: int
    """How long the lock lasts unless extended."""
    limiter: Limiter | None = None
    worker_name: str | None = None
    """Recorded on the job as ``processed_by``."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """What a fetch returned.

    ``job`` is the job now active and locked with the request's token, or None.
    With no job, ``rate_limited_for_ms`` > 0 says the queue is rate limited for that
    many more ms, and ``next_delayed_at_ms`` > 0 is when (epoch ms) the earliest
    delayed job falls due.
    """

    job: JobRecord | None
    rate_limited_for_ms: int = 0
    next_delayed_at_ms: int = 0


@dataclass(frozen=True, slots=True)
class KeepJobs:
    """How many finished jobs to keep after this one finishes.

    ``count``: -1 keeps all, 0 removes this job at once, n keeps the newest n.
    ``age_ms``: if set, jobs that finished more than ``age_ms`` ago are removed.
    """

    count: int = -1
    age_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Completed:
    """Outcome: the job succeeded with ``return_value`` (JSON text)."""

    return_value: str
    keep: KeepJobs = field(default_factory=KeepJobs)
    metrics_max_points: int = 0
    """> 0: count the job in the queue's per-minute metrics, keeping that many minutes."""


@dataclass(frozen=True, slots=True)
class Failed:
    """Outcome: the job failed for good (no retry)."""

    reason: str
    stacktrace: str = "[]"
    """JSON array of strings."""
    keep: KeepJobs = field(default_factory=KeepJobs)
    attempts: int = 0
    """The job's ``attempts`` option, for the ``retries-exhausted`` event."""
    metrics_max_points: int = 0
    """> 0: count the job in the queue's per-minute metrics, keeping that many minutes."""


@dataclass(frozen=True, slots=True)
class Retry:
    """A failed attempt that will run again: at once (``delay_ms`` 0) or after ``delay_ms``."""

    reason: str
    stacktrace: str = "[]"
    delay_ms: int = 0


@dataclass(frozen=True, slots=True)
class MetricsPage:
    """A queue's per-minute metrics of one kind (completed or failed), as BullMQ's
    workers record them: ``count`` jobs counted in all, ``prev_ts_ms`` / ``prev_count``
    when the last minute was closed and the count then, ``data`` the requested data
    points (jobs per closed minute, newest first), ``points`` how many are kept."""

    count: int
    prev_ts_ms: int
    prev_count: int
    data: list[int]
    points: int


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a queue's event log. ``id`` is an opaque, increasing cursor."""

    id: str
    name: str
    fields: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class SchedulerSpec:
    """A job scheduler to store, checked and encoded by the API (BullMQ's
    ``repeat:<id>`` hash). Exactly one of ``every_ms`` and ``pattern`` is set."""

    id: str
    name: str
    """The name of the jobs it adds."""
    every_ms: int | None = None
    pattern: str | None = None
    """A cron pattern (5 fields, or 6 with seconds first)."""
    tz: str | None = None
    limit: int | None = None
    """At most this many iterations."""
    start_ms: int | None = None
    end_ms: int | None = None
    data: str = "{}"
    """JSON text of every iteration's data."""
    template_opts: str = "{}"
    """JSON text of every iteration's job options, in BullMQ's encoding."""


@dataclass(frozen=True, slots=True)
class SchedulerIteration:
    """The iteration job a scheduler operation adds, as the API decided it.

    The store names it ``repeat:<scheduler id>:<due ms>`` and writes ``jobId`` and
    ``delay`` into ``opts``. For an ``every`` scheduler the store itself computes
    the due time from the previous one (``due_ms`` is ignored), as BullMQ's scripts do.
    """

    due_ms: int
    """When a cron iteration runs (epoch ms)."""
    opts: str
    """JSON text of the job's options: the template's plus ``repeat``, ``repeatJobKey``
    and ``prevMillis``, as Node BullMQ stores them."""
    priority: int = 0
    lifo: bool = False


@dataclass(frozen=True, slots=True)
class SchedulerRecord:
    """A stored job scheduler: its definition, how many iterations it made, and when
    the next one runs."""

    id: str
    name: str
    next_ms: int
    iteration_count: int
    every_ms: int | None = None
    pattern: str | None = None
    tz: str | None = None
    limit: int | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    offset_ms: int | None = None
    data: str | None = None
    """JSON text of the iterations' data (None: ``{}``)."""
    template_opts: str | None = None
    """JSON text of the iterations' job options (None: none)."""


@runtime_checkable
class Backend(Protocol):
    """The storage operations corral needs; see the module docstring for the rules.

    ``queue`` is always the queue's plain name; a backend is opened for one
    prefix and keeps the queues of different prefixes apart.
    """

    url: str
    """The URL the backend was opened with, with any password masked."""

    prefix: str
    """The prefix of the queues this backend names (a queue key is ``<prefix>:<queue>``)."""

    # -- adding -----------------------------------------------------------------

    async def add_jobs(self, queue: str, jobs: Sequence[NewJob]) -> list[str]:
        """Add jobs atomically (all or none) and return their ids in order.

        A custom id that already exists adds nothing and returns that id (event
        ``duplicated``). Events: ``added`` and ``waiting`` or ``delayed``.

        A job with ``parent`` becomes a child of that existing job, as in
        :meth:`add_flow` (refusals -5 and -7, the rules for an existing id); a
        parent released by it (an existing completed job attached as its last
        child) is delayed from the batch's newest ``timestamp_ms``.
        """
        ...

    async def add_flow(self, entries: Sequence[FlowEntry], now: int) -> list[str]:
        """Add trees of jobs atomically (all or none); return the ids in entry order.

        Parents come before their children. A node that another entry names as its
        parent starts in ``waiting-children`` (scored by its ``timestamp_ms``,
        whatever its delay or priority: those apply when it is released); every
        other node is placed as :meth:`add_jobs` places it. A child is recorded as
        its parent's unprocessed dependency. Every node's queue id counter counts
        it, custom id or not. A custom id that exists adds nothing (event
        ``duplicated``) and is attached to its new parent: a completed job goes to
        the parent's processed bucket with its return value, any other to its
        unprocessed bucket. Last, every parent of the call that has no unprocessed
        child is released. Adding the same flow with the same custom ids again
        therefore changes nothing.

        Refusals (nothing is written; the exception's ``index`` is the entry's):
        -5 a parent that is not an earlier entry does not exist; -7 a node's id
        exists with another parent that still exists.
        Events per node: ``added`` then ``waiting`` / ``delayed`` /
        ``waiting-children``, or ``duplicated``; then the releases'.

        now: places a released parent that has a delay (due ``now + delay``).
        """
        ...

    # -- fetching and finishing --------------------------------------------------

    async def move_to_active(self, queue: str, fetch: FetchRequest, now: int) -> Fetched:
        """Promote due delayed jobs, then take the next job and lock it with ``fetch.token``.

        Nothing is handed out while the queue is paused, or while it is rate
        limited (the limiter holds :data:`RATE_LIMIT_SENTINEL`, or
        ``fetch.limiter`` is set and its window is full).
        Increments ``attempts_started``; sets ``processed_on_ms = now``. Event ``active``.

        now: promotes delayed jobs due by it, stamps ``processed_on_ms`` and (SQLite)
        times the lock and the limiter window; Redis times those by its own clock.
        """
        ...

    async def move_to_finished(
        self,
        queue: str,
        job_id: str,
        token: str,
        outcome: Completed | Failed,
        now: int,
        fetch: FetchRequest | None = None,
    ) -> Fetched | None:
        """Complete or fail an active job whose lock ``token`` holds; then, if
        ``fetch`` is given, fetch the next job in the same step.

        Refusals: -1 missing job; completing only, before the lock is looked at:
        -4 the job has unprocessed children, -9 it has a child in its failed
        bucket; -2 no lock (it expired, or the job already finished: the refusal
        carries the job's state), -6 lock held by another token, -3 not active.
        Increments ``attempts_made``; sets ``finished_on_ms``.
        Events ``completed`` / ``failed`` (+ ``retries-exhausted`` when
        ``attempts_made >= outcome.attempts``), ``drained`` when nothing is left.
        Returns the next fetch result when ``fetch`` was given, else None.

        A child's parent, in the same step and before the child's retention: a
        completed child moves from the parent's unprocessed bucket to processed
        (with its return value) and releases the parent if none is left pending.
        A child failed for good acts by its :class:`ParentPolicy`: FAIL_PARENT puts
        it in the parent's failed bucket and releases a waiting (or delayed) parent
        at once with ``deferred_failure = "child <key> failed"`` (a parent in any
        other unfinished state only gets that mark); CONTINUE_PARENT puts it in
        ignored and releases a waiting parent at once; IGNORE puts it in ignored and
        REMOVE drops it, releasing the parent once none is pending; NONE leaves it
        pending. A child removed at once (``keep.count == 0``) also leaves the
        unprocessed bucket, releasing the parent if it was the last. Nothing
        happens to a parent for a child that is no longer in its unprocessed bucket.

        now: stamps ``finished_on_ms``, ages retention (``keep.age_ms``), is the
        fetch's ``now`` and the failed bucket's time, and places a released parent
        that has a delay; on SQLite it also judges whether the lock is still live.
        """
        ...

    async def retry_job(
        self,
        queue: str,
        job_id: str,
        token: str,
        retry: Retry,
        now: int,
        fetch: FetchRequest | None = None,
    ) -> Fetched | None:
        """Record a failed attempt and put the job back: to wait (back of the line,
        or prioritized) when ``retry.delay_ms`` is 0, else to delayed until
        ``now + retry.delay_ms``. A child's parent is not touched.

        Same refusals as :meth:`move_to_finished`. Increments ``attempts_made``.
        Events ``waiting`` (prev ``active``) or ``delayed``.

        now: places the delayed job and is the fetch's ``now``; on SQLite it also
        judges the lock.
        """
        ...

    async def move_to_waiting_children(
        self, queue: str, job_id: str, token: str, now: int, child_key: str | None = None
    ) -> bool:
        """Park an active job in ``waiting-children`` until its children finish (the
        step-job pattern); True when it now waits there.

        Refusals, in this order: -1 missing job, -9 it has a child in its failed
        bucket, -2 no lock, -6 lock held by another token, -3 not active (checked
        before anything is answered: only the lock holder learns anything).
        Returns False, changing nothing, when no child is pending (or ``child_key``,
        a child job key, is not pending). Otherwise the job leaves active, loses its
        lock and its stalled-candidate mark, and waits scored by ``now``; its
        attempts are not touched. Event ``waiting-children`` (prev ``active``).

        now: the job's score in ``waiting-children``; SQLite also judges the lock by it.
        """
        ...

    async def move_to_wait(self, queue: str, job_id: str, token: str, now: int) -> int:
        """Put an active job back at the front of its line without using an attempt.

        Same refusals as :meth:`move_to_finished`. Returns the ms left on the
        queue's rate limit (0 if none).

        now: SQLite judges the lock and the limiter window by it; Redis ignores it
        (both follow the server clock there).
        """
        ...

    async def extend_lock(
        self, queue: str, job_id: str, token: str, duration_ms: int, now: int
    ) -> None:
        """Set the job's lock to expire ``duration_ms`` from now, if ``token`` holds it
        (and the lock has not expired). Also clears the job's stalled-candidate mark.

        Refusals: -1 missing job, -2 no lock (expired, or the job finished), -6 lock
        held by another token.

        now: SQLite sets the new expiry from it and judges the old one; Redis ignores
        it (``PX`` from the server clock).
        """
        ...

    async def extend_locks(
        self, queue: str, locks: Sequence[tuple[str, str]], duration_ms: int, now: int
    ) -> dict[str, ErrorCode]:
        """Extend many ``(job_id, token)`` locks in one step.

        Returns the locks that could not be extended, by job id, with the refusal
        code :meth:`extend_lock` would have raised (the others are extended).

        now: as for :meth:`extend_lock`.
        """
        ...

    async def move_stalled_to_wait(
        self, queue: str, max_stalled_count: int, stalled_interval_ms: int, now: int
    ) -> list[str]:
        """Return jobs whose lock expired to the front of wait; return their ids.

        Runs at most once per ``stalled_interval_ms`` across all workers of the
        queue. A job is stalled when it was active at the previous check, its
        lock is gone and it is still active; a stalled child stays pending for its
        parent (which is never released by a stall). Each stall increments
        ``stalled_counter``; past ``max_stalled_count`` the job gets
        ``deferred_failure = STALLED_LIMIT_REASON`` (the next fetch fails it).
        Events ``waiting`` (prev ``active``) and ``stalled``.

        now: SQLite gates the interval and judges lock expiry by it; Redis gates the
        interval with a ``PX`` key and judges locks by its own clock (it stores
        ``now`` in the gate key only as a record of when the check ran).
        """
        ...

    # -- reading -----------------------------------------------------------------

    async def get_job(self, queue: str, job_id: str) -> JobRecord | None:
        """The stored job, or None if there is no such job."""
        ...

    async def get_state(self, queue: str, job_id: str) -> JobState:
        """The job's state, or ``JobState.UNKNOWN`` if there is no such job."""
        ...

    async def get_counts(self, queue: str, states: Sequence[JobState]) -> dict[JobState, int]:
        """How many jobs are in each of ``states``."""
        ...

    async def read_events(
        self, queue: str, after: str | None, *, count: int = 100, block_ms: int = 0
    ) -> list[Event]:
        """Events after cursor ``after`` (None: only new ones), waiting up to
        ``block_ms`` for one to arrive when there are none."""
        ...

    async def events_cursor(self, queue: str) -> str:
        """A cursor at the newest event: reading after it returns only later events
        (``"0"`` when the queue has no events yet)."""
        ...

    async def get_jobs(
        self, queue: str, states: Sequence[JobState], start: int = 0, end: int = -1
    ) -> list[JobRecord]:
        """Jobs in ``states``, state after state in the order given, sliced ``[start, end]``
        (inclusive; ``end = -1`` means to the last) over the whole concatenation.

        Within a state: waiting in the order they will be fetched; prioritized by
        priority then age; delayed by due time; active most recently fetched first;
        completed and failed most recently finished first; waiting-children oldest first.
        """
        ...

    async def get_dependencies(
        self,
        queue: str,
        job_id: str,
        *,
        limit: int | None = None,
        cursors: Mapping[DependencyBucket, str] | None = None,
    ) -> DependencyPage:
        """The job's children in its four buckets (empty for a job that is no parent).

        ``limit``: at most that many keys per bucket (None: all). ``cursors`` None
        reads every bucket from its start; given, only the buckets it names are
        read, each from its cursor (a page's ``cursors``), and the others are empty.
        Paging is exact: pages of one bucket neither repeat nor skip keys while the
        bucket does not change.
        """
        ...

    async def get_dependency_counts(self, queue: str, job_id: str) -> DependencyCounts:
        """How many children the job has in each bucket (all 0 for a job that is no parent)."""
        ...

    async def get_logs(
        self, queue: str, job_id: str, start: int = 0, end: int = -1
    ) -> tuple[list[str], int]:
        """The job's log lines ``[start, end]`` (oldest first) and how many there are."""
        ...

    async def list_queues(self) -> list[str]:
        """Names of the queues under this backend's prefix that hold any job or state, sorted."""
        ...

    # -- changing one job ----------------------------------------------------------

    async def update_progress(self, queue: str, job_id: str, progress: str) -> None:
        """Store ``progress`` (JSON text) on the job. Event ``progress`` (jobId, data).
        Refusal: -1 missing job."""
        ...

    async def add_log(self, queue: str, job_id: str, line: str, keep: int | None = None) -> int:
        """Append a log line to the job; with ``keep``, only the newest ``keep`` lines stay.
        Returns how many lines the job has. Refusal: -1 missing job."""
        ...

    async def remove_job(
        self, queue: str, job_id: str, now: int, *, remove_children: bool = True
    ) -> bool:
        """Remove the job and everything stored with it (logs, lock, its buckets of
        children); event ``removed`` (jobId, prev: the state, but ``wait`` for a waiting job, as
        Node says) in each removed job's queue.
        Returns False when there is no such job.

        A child leaves its parent's unprocessed bucket (its processed, ignored or
        failed entry stays), and the parent is released if that was its last
        pending child. With ``remove_children`` every descendant goes too, through
        all four buckets, children before their parents, with no event for a parent
        that is itself being removed; a descendant's ``removed`` says ``wait`` (the
        key it left, as Node says) for a waiting job.

        Refusal: -102 (``JOB_LOCKED``) when the job is active with a live lock, or
        (with ``remove_children``) any job reachable through unprocessed buckets is;
        nothing is removed then.

        now: places a released parent that has a delay; SQLite judges locks by it,
        Redis by its server clock.
        """
        ...

    async def promote(self, queue: str, job_id: str) -> None:
        """Move a delayed job to wait now (or to prioritized); its ``delay_ms`` becomes 0.
        Event ``waiting`` (prev ``delayed``). Refusals: -1 missing, -3 not delayed
        (with the job's state)."""
        ...

    async def reprocess_job(
        self, queue: str, job_id: str, state: JobState, *, reset_attempts: bool
    ) -> None:
        """Run a finished job again: take it out of ``state`` (completed or failed),
        clear ``finished_on_ms``, ``processed_on_ms`` and its return value or failed
        reason (and ``attempts_made``/``attempts_started`` when ``reset_attempts``),
        and put it in wait (or prioritized). A child that had left its existing
        parent's unprocessed bucket goes back into it (the parent is not moved).
        Event ``waiting`` (prev ``state``).
        Refusals: -1 missing, -3 not in ``state`` (with the job's state)."""
        ...

    # -- queue-wide --------------------------------------------------------------

    async def rate_limit(self, queue: str, duration_ms: int, now: int) -> None:
        """Hand out no job to any worker of the queue for ``duration_ms``.

        now: SQLite sets the window's end from it; Redis ignores it (``PX``).
        """
        ...

    async def get_rate_limit_ttl(self, queue: str, now: int) -> int:
        """ms left on the queue's rate limit; 0 if it is not limited.

        now: SQLite measures from it; Redis ignores it (``PTTL``).
        """
        ...

    async def pause(self, queue: str) -> None:
        """Stop handing out jobs (jobs stay in wait). Event ``paused``."""
        ...

    async def resume(self, queue: str) -> None:
        """Hand out jobs again. Event ``resumed``."""
        ...

    async def is_paused(self, queue: str) -> bool:
        """Whether the queue is paused."""
        ...

    async def obliterate(self, queue: str, *, force: bool) -> None:
        """Remove the queue and all its jobs.

        Refusals: -100 (``QUEUE_NOT_PAUSED``) when the queue is not paused; -101
        (``QUEUE_HAS_ACTIVE_JOBS``, with the count of active jobs) when jobs are
        active and not ``force``. Both raise :class:`~corral.errors.ObliterateError`.
        """
        ...

    # -- waiting for work ----------------------------------------------------------

    async def wait_for_job(self, queue: str, timeout_ms: int) -> int | None:
        """Block up to ``timeout_ms`` until work may be available, without busy polling.

        Returns 0 when a job may be ready now, a positive epoch-ms time when the
        next delayed job falls due, or None on timeout. A wake-up is a hint, not
        a promise: the caller always fetches with :meth:`move_to_active`.
        """
        ...

    async def wait_and_fetch(
        self, queue: str, timeout_ms: int, fetch: FetchRequest
    ) -> tuple[int | None, Fetched | None]:
        """:meth:`wait_for_job`, and where the store can, the fetch of ``fetch`` in the
        same step, the moment the wait ends (a store reached over a network saves the
        round trip of asking after the wake-up).

        Returns the wake-up hint and the fetch result, or None for the result when no
        fetch was made (the caller fetches with :meth:`move_to_active`). A job in the
        result is active and locked with ``fetch.token``. Cancelling the call loses
        nothing: a job its fetch took is given back to wait.
        """
        ...

    # -- editing one job (Node's changeDelay, changePriority, updateData, moveToDelayed) --

    async def change_delay(self, queue: str, job_id: str, delay_ms: int, now: int) -> None:
        """Make a delayed job due ``delay_ms`` from ``now`` (its ``delay_ms`` becomes that).
        Event ``delayed`` (jobId, delay = the due time). Refusals: -1 missing, -3 not
        delayed (with the job's state).

        now: the new due time is counted from it.
        """
        ...

    async def change_priority(self, queue: str, job_id: str, priority: int, lifo: bool) -> None:
        """Give the job ``priority``. A job that waits (waiting or prioritized) moves to
        its new place: with ``lifo``, first among the jobs of that priority (the front
        of wait for 0), else last; a job in another state keeps its place and gets the
        priority when it next waits. No event. Refusal: -1 missing."""
        ...

    async def update_data(self, queue: str, job_id: str, data: str) -> None:
        """Replace the job's data (JSON text). No event. Refusal: -1 missing."""
        ...

    async def move_to_delayed(
        self, queue: str, job_id: str, token: str, delay_ms: int, now: int
    ) -> None:
        """Put an active job whose lock ``token`` holds in delayed, due ``delay_ms`` from
        ``now``, without using an attempt; its lock and stalled mark go. Event
        ``delayed``. Refusals as :meth:`move_to_wait`'s.

        now: the due time is counted from it; SQLite also judges the lock by it.
        """
        ...

    # -- maintenance and queue settings ---------------------------------------------
    # Operations over many jobs work in batches of at most ``limit`` jobs, each batch
    # one atomic step, so a store serving other clients is never held for long; the
    # API repeats them until they report nothing left.

    async def clean(
        self,
        queue: str,
        state: JobState,
        before_ms: int,
        limit: int,
        now: int,
        cursor: tuple[int, ...] = (),
    ) -> CleanBatch:
        """Remove up to ``limit`` jobs of ``state``, oldest first: one batch.

        A job qualifies when its newest of ``finished_on_ms``, ``processed_on_ms``
        and ``timestamp_ms`` (in that order of preference: completed and failed jobs
        by finish, delayed and prioritized by creation) is at or before
        ``before_ms``; an active job only when its lock is gone; a job scheduler's
        next run (``repeat:<id>:<next ms>``) never. Each is removed as
        :meth:`remove_job` with ``remove_children=False`` would, but with no
        ``removed`` event; one event ``cleaned`` (count) per batch that removes
        jobs or starts at cursor 0, as Node per call. States: waiting,
        prioritized, delayed, active, completed, failed.

        For the states but completed and failed, the batch looks at up to
        :data:`CLEAN_WINDOW` entries (or ``limit``, if more) from the oldest, past
        those earlier batches looked at and kept: ``cursor`` is the previous
        batch's :attr:`CleanBatch.cursor` (``()`` for the first; None back: all
        looked at). now: SQLite judges active locks by it and places a released
        parent.
        """
        ...

    async def drain(self, queue: str, delayed: bool, limit: int, now: int) -> int:
        """Remove up to ``limit`` jobs that are waiting or prioritized (and delayed, with
        ``delayed``), as :meth:`clean` removes them, with no event (as Node's drain);
        return how many were removed (the caller repeats while that is ``limit``).

        now: places a released parent.
        """
        ...

    async def move_jobs_to_wait(
        self, queue: str, state: JobState, before_ms: int, limit: int
    ) -> int:
        """Move up to ``limit`` jobs of ``state`` to waiting, oldest first, behind
        the jobs waiting already, and return how many moved: completed or failed
        jobs that finished at or before ``before_ms`` (as :meth:`reprocess_job`,
        attempts kept), or delayed jobs whatever their due time (their delay
        becomes 0). As Node's ``moveJobsToWait``, a job with a priority (or
        ``lifo``) waits in line with the others; it keeps its priority. Event
        ``waiting`` (prev ``state``) per job."""
        ...

    async def trim_events(self, queue: str, max_length: int) -> None:
        """Keep only the newest ``max_length`` events of the queue's log (0: none)."""
        ...

    async def set_global_concurrency(self, queue: str, concurrency: int | None) -> None:
        """Let at most ``concurrency`` jobs of the queue be active at once, across
        every worker (None removes the limit). On Redis: meta ``concurrency``."""
        ...

    async def set_global_rate_limit(self, queue: str, limit: Limiter | None) -> None:
        """Hand out at most ``limit.max`` jobs per ``limit.duration_ms`` across every
        worker (None removes the limit). On Redis: meta ``max`` and ``duration``."""
        ...

    async def get_global_limits(self, queue: str) -> GlobalLimits:
        """The queue's global concurrency and rate limit (None where not set)."""
        ...

    async def worker_seen(self, queue: str, worker: WorkerRecord, now: int) -> None:
        """Say that ``worker`` takes jobs from the queue now (called when it starts and
        then every few seconds). On Redis this names the worker's blocking
        connection as Node's workers name theirs (``<prefix>:<base64 queue>`` and
        ``:w:<name>``), so Node's ``getWorkers()`` lists it.

        now: SQLite's last-seen time.
        """
        ...

    async def worker_gone(self, queue: str, worker_id: str) -> None:
        """Say that the worker ``worker_id`` (its :class:`WorkerRecord` id) stopped."""
        ...

    async def get_workers(self, queue: str, now: int) -> list[WorkerRecord]:
        """The workers taking jobs from the queue now, oldest first: on Redis the
        clients named as a Node or corral worker of the queue; on SQLite the workers
        seen within the last :data:`WORKER_SEEN_TIMEOUT_MS` (older rows are dropped).

        now: SQLite's clock for the timeout; on Redis it turns the client list's ages
        into times.
        """
        ...

    def share(self, prefix: str) -> Backend:
        """A backend for queues under ``prefix`` on this backend's connections.

        No I/O happens. Its :meth:`close` releases nothing: the connections belong
        to this backend, whose own :meth:`close` releases them for both. This is how
        many queues (and prefixes) share one connection.
        """
        ...

    async def close(self) -> None:
        """Release connections and threads. Safe to call more than once."""
        ...

    # -- job schedulers ------------------------------------------------------------

    async def upsert_job_scheduler(
        self, queue: str, scheduler: SchedulerSpec, iteration: SchedulerIteration, now: int
    ) -> tuple[str, int]:
        """Store ``scheduler`` (replacing one with its id) and add its next iteration;
        return the iteration's job id and its delay (ms from ``now``, at least 0).

        A replaced scheduler's pending iteration (delayed, prioritized or waiting) is
        removed first; one that is active or finished stays. Its iteration count is
        kept. ``every``: the first iteration is due at ``start_ms`` (or now), and a
        replaced scheduler with the same ``every`` keeps its slot. Refusal -10
        (``SCHEDULER_JOB_ID_COLLISION``): a cron iteration's id exists already and
        is not the pending one.

        now: the iteration's timestamp, what its delay is counted from.
        """
        ...

    async def add_next_iteration(
        self,
        queue: str,
        scheduler_id: str,
        producer_id: str,
        iteration: SchedulerIteration,
        now: int,
    ) -> str | None:
        """Add the scheduler's next iteration, because its current one,
        ``producer_id``, has started; return the new job id.

        Nothing happens (None) when the scheduler is gone, when ``producer_id`` is not
        its current iteration (another worker already moved it on), or when the next
        iteration's id exists (event ``duplicated``). Otherwise the scheduler's next
        run becomes the iteration's due time and its iteration count grows by one.

        now: the iteration's timestamp; an ``every`` scheduler catches up from it.
        """
        ...

    async def remove_job_scheduler(self, queue: str, scheduler_id: str) -> bool:
        """Remove the scheduler and its pending delayed iteration (event ``removed``);
        False when there was none."""
        ...

    async def get_job_scheduler(self, queue: str, scheduler_id: str) -> SchedulerRecord | None:
        """The stored scheduler, or None."""
        ...

    async def get_job_schedulers(
        self, queue: str, start: int = 0, end: int = -1, *, asc: bool = True
    ) -> list[SchedulerRecord]:
        """Schedulers by next run (``asc``: soonest first), sliced ``[start, end]``."""
        ...

    async def get_job_schedulers_count(self, queue: str) -> int:
        """How many schedulers the queue has."""
        ...

    # -- cancellation ----------------------------------------------------------------

    async def cancel_job(
        self, queue: str, job_id: str, reason: str, now: int, keep: KeepJobs
    ) -> JobState:
        """Cancel a job; return the state it was in (``UNKNOWN``: there is none).

        ``reason`` is the whole failed reason (it starts with
        :data:`CANCEL_REASON_PREFIX`). Waiting, prioritized, delayed or
        waiting-children: the job fails at once, as a failure for good does (its
        parent acts by its :class:`ParentPolicy`, retention ``keep`` applies,
        ``attempts_made`` is not touched). Active: the job is marked with
        ``deferred_failure = reason`` and stays active; the worker holding it sees
        the mark through :meth:`get_cancel_requests` and fails it, and a job that
        stalls back instead is failed by its next fetch (as any deferred failure).
        Completed, failed or unknown: nothing changes.
        Events: ``cancelled`` (jobId, reason, prev: the state) unless nothing
        changes; then ``failed`` (jobId, failedReason, prev) unless it was active.

        now: stamps ``finished_on_ms`` and ages retention.
        """
        ...

    async def get_cancel_requests(self, queue: str, job_ids: Sequence[str]) -> dict[str, str]:
        """The jobs of ``job_ids`` marked to be cancelled, with their reasons: a
        ``deferred_failure`` that starts with :data:`CANCEL_REASON_PREFIX`. Missing
        jobs and jobs without such a mark are left out. Read only; one round trip."""
        ...

    # -- deduplication -------------------------------------------------------------

    async def get_deduplication_job_id(self, queue: str, dedup_id: str, now: int) -> str | None:
        """The id of the job that holds deduplication id ``dedup_id``, or None.

        now: SQLite judges the id's ttl by it; Redis by ``PX``.
        """
        ...

    async def remove_deduplication_key(self, queue: str, dedup_id: str) -> bool:
        """Free deduplication id ``dedup_id`` (whoever holds it); False if it was free."""
        ...

    # -- metrics ----------------------------------------------------------------------

    async def get_metrics(self, queue: str, kind: str, start: int, end: int) -> MetricsPage:
        """The queue's per-minute metrics of ``kind`` (``completed`` / ``failed``) that
        :class:`Completed` / :class:`Failed` with ``metrics_max_points`` recorded; the
        data points ``[start, end]``, newest first (negative: from the oldest). All 0
        when none were recorded.

        Recording (in ``move_to_finished``, with the outcome's ``metrics_max_points``
        and its ``now``): the job is counted at once; the first job of a later
        minute closes the minutes since the last close: it pushes the jobs counted
        meanwhile (before itself), then a 0 per idle minute between, keeping the
        newest ``metrics_max_points``.
        """
        ...
