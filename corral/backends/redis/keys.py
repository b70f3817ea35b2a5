"""Every Redis key name of a queue, in one place.

The layout is BullMQ 6's, so Node BullMQ and corral share a queue. Every key of
queue ``q`` under prefix ``p`` starts with the *base* ``p:q:``; a job's keys append
its id. On a Redis Cluster, braces in the prefix or the queue name (``{p}``) make
every key of a queue hash to one slot (corral refuses a prefix that would not):
the scripts are handed every key known before a call in ``KEYS``, and the keys
they find while they run (a popped job, a parent) are in that same slot.

Queue keys (``<base><suffix>``):

================== ======== ==============================================================
suffix             type     contents
================== ======== ==============================================================
``wait``           LIST     ids ready to run; producers LPUSH (back of the line), workers
                            take from the tail (RPOPLPUSH), so RPUSH puts a job in front
``paused``         LIST     legacy (BullMQ 5) twin of ``wait`` while paused; corral never
                            writes it, ``resume`` migrates it into ``wait``
``active``         LIST     ids being processed; enter at the head
``prioritized``    ZSET     waiting prioritized ids, score ``priority * 2**32 + (pc mod 2**32)``
``pc``             STRING   priority counter, INCR per prioritized insert
``delayed``        ZSET     delayed ids, score ``due_ms * 4096 + seq`` (seq 0..4095)
``completed``      ZSET     completed ids, score = finishedOn ms
``failed``         ZSET     failed ids, score = finishedOn ms
``waiting-children`` ZSET   flow parents waiting for children, score = since when (ms)
``stalled``        SET      ids active at the previous stalled check (candidates)
``stalled-check``  STRING   stalled-check throttle, PX = stalled interval
``limiter``        STRING   rate-limit counter with PX = window; 9007199254740991 = limited
``id``             STRING   job id counter, INCR on every add
``meta``           HASH     ``paused``, ``concurrency``, ``max``, ``duration``,
                            ``opts.maxLenEvents``, ``version``
``events``         STREAM   event log: ``event <name> [field value ...]``
``marker``         ZSET     wake-up marker: ``"0"``@0 work now, ``"1"``@due-ms next delayed
``repeat``         ZSET     job schedulers (written by Node; removed by obliterate)
``de:<id>``        STRING   deduplication key -> owning job id (written by Node)
``metrics:completed`` HASH  per-minute metrics of finished jobs (workers with ``metrics``):
``metrics:failed``          ``count``, ``prevTS``, ``prevCount`` (``lua/includes/metrics.lua``)
``metrics:<kind>:data`` LIST jobs per closed minute, newest first, at most the worker's
                            ``metrics`` long
================== ======== ==============================================================

Node also writes ``dn:<id>`` and ``repeat:<id>`` keys, and obliterate
still deletes BullMQ 3's ``delay``. No job id may be one of these names or a
suffix above: :data:`corral.backends.keyspace.RESERVED_JOB_IDS` lists them all.

Job keys (``<base><jobId>...``):

================ ======== ==========================================================
``<id>``         HASH     name, data, opts, timestamp, delay, priority; processedOn,
                          ats, pb at activation; atm, finishedOn, returnvalue or
                          failedReason (+ stacktrace); stc, defa, progress, deid ...
``<id>:lock``    STRING   the token of the worker holding the job, PX = lock duration
``<id>:logs``    LIST     log lines
``<id>:dependencies`` / ``:processed`` / ``:failed`` / ``:unsuccessful``  a parent's
                          children by job key (see ``lua/includes/flow.lua``)
================ ======== ==========================================================

A child's hash also holds ``parentKey`` (its parent's job key) and ``parent`` (JSON
``{"id", "queueKey"}`` plus its failure flag). The flow scripts derive the keys of
other queues from those job keys, as Node's do: on a Redis Cluster every queue of
one flow must share one braced prefix (one hash slot).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from corral.backends.keyspace import QUEUE_SUFFIXES

if TYPE_CHECKING:
    from corral.backends.redis.connection import CommandHead
    from corral.backends.redis.scripts import Script

__all__ = ["QUEUE_SUFFIXES", "QueueKeys"]


class QueueKeys:
    """The key names of one queue: ``QueueKeys("bull", "mail").key("wait") == "bull:mail:wait"``.

    Scripts name their keys by suffix; :meth:`for_script` turns a script's suffix
    list into key names once and remembers the result, so a call costs no string
    building.
    """

    __slots__ = ("_script_heads", "_script_keys", "base", "queue")

    def __init__(self, prefix: str, queue: str) -> None:
        if not queue or ":" in queue:
            raise ValueError(f"queue name must be non-empty and contain no ':', not {queue!r}")
        self.queue = queue
        self.base = f"{prefix}:{queue}:"
        """The key every other key of the queue starts with (trailing colon)."""
        self._script_keys: dict[str, list[str]] = {}
        self._script_heads: dict[str, CommandHead] = {}

    def key(self, suffix: str) -> str:
        """The queue key ``<base><suffix>``; ``"base"`` is the base key itself."""
        if suffix == "base":
            return self.base
        if suffix not in QUEUE_SUFFIXES:
            raise ValueError(f"unknown queue key suffix {suffix!r}")
        return self.base + suffix

    def job(self, job_id: str) -> str:
        """The job's hash."""
        return self.base + job_id

    def lock(self, job_id: str) -> str:
        """The job's lock (a STRING holding the owner's token)."""
        return f"{self.base}{job_id}:lock"

    def script_head(self, script: Script) -> CommandHead:
        """``script``'s EVALSHA command head for this queue, packed once."""
        head = self._script_heads.get(script.name)
        if head is None:
            head = script.head(self.for_script(script.name, script.keys))
            self._script_heads[script.name] = head
        return head

    def for_script(self, script: str, suffixes: tuple[str, ...]) -> list[str]:
        """The ``KEYS`` of ``script`` for this queue, built once per script."""
        keys = self._script_keys.get(script)
        if keys is None:
            keys = [self.key(s) for s in suffixes]
            self._script_keys[script] = keys
        return keys
