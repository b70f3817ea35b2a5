"""Model-based test: random sequences of operations on a real backend, checked
step by step against a plain-Python model of a job's life.

The machine drives the **backends directly** (``corral.backends``), because the
backend contract takes ``now`` from the caller: the model keeps a *virtual
clock*, and every operation is given that clock's time.

Letting time pass (locks and rate limits expiring):

* **SQLite** decides everything by the ``now`` it is handed, so advancing the
  virtual clock is all it takes: a lock whose ``lock_until`` is behind the clock
  has expired.
* **Redis** expires locks, the rate limit and the stalled-check throttle by its
  own clock. Lock durations and rate limits here are at least a minute of real
  time, far longer than an example runs, so nothing expires on its own; when the
  virtual clock passes a key's expiry the machine expires that key at once with
  ``PEXPIREAT <key> 1`` (a time in the past), the same thing Redis does when
  the time comes. Delayed jobs fall due by the ``now`` handed in, on both.

After every step the machine checks, on the store, the count of every state,
the set of jobs in each state and each job's counters; every refusal (unknown
job, wrong token, lock expired, not active) must raise the right
:mod:`corral.errors` exception and change nothing.

``CORRAL_MODEL_EXAMPLES`` / ``CORRAL_MODEL_STEPS`` make the run bigger
(defaults 150 examples of 50 steps per backend, about 20 s in all).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from corral._codec import dumps
from corral._policy import retry_delay
from corral.backends import open_backend
from corral.backends.base import (
    STALLED_LIMIT_REASON,
    Backend,
    Completed,
    Failed,
    FetchRequest,
    JobState,
    KeepJobs,
    NewJob,
    Retry,
)
from corral.backends.redis.keys import QueueKeys
from corral.errors import (
    JobError,
    JobNotFoundError,
    LockMismatchError,
    MissingLockError,
)
from corral.options import Backoff, JobOptions, parse_opts

EXAMPLES = int(os.environ.get("CORRAL_MODEL_EXAMPLES", "150"))
STEPS = int(os.environ.get("CORRAL_MODEL_STEPS", "50"))

TOKENS = ("tok-a", "tok-b", "tok-c")
MAX_STALLED = 1
LISTED = (
    JobState.WAITING,
    JobState.ACTIVE,
    JobState.DELAYED,
    JobState.PRIORITIZED,
    JobState.COMPLETED,
    JobState.FAILED,
)
# Real-time lengths on Redis (locks, rate limits, the stalled-check throttle):
# never shorter than a minute (see the module docstring).
LOCK_MS = st.sampled_from([60_000, 90_000, 240_000])
LIMIT_MS = st.sampled_from([60_000, 180_000])
STALLED_INTERVAL_MS = st.sampled_from([60_000, 120_000])
# How far the virtual clock may jump in one step.
JUMP_MS = st.sampled_from([1, 999, 30_000, 60_000, 90_001, 250_000])
DELAY_MS = st.sampled_from([1, 500, 20_000, 100_000])


@dataclass
class ModelJob:
    id: str
    priority: int
    lifo: bool
    attempts: int
    backoff_ms: int
    state: JobState
    delay: int = 0
    due: int = 0
    seq: int = 0
    token: str | None = None
    lock_until: int = 0
    candidate: bool = False
    attempts_made: int = 0
    attempts_started: int = 0
    stalled_counter: int = 0
    deferred: bool = False
    failed_reason: str | None = None


class Model:
    """The queue as the contract in ``corral/backends/base.py`` describes it."""

    def __init__(self, now: int) -> None:
        self.now = now
        self.jobs: dict[str, ModelJob] = {}
        # The wait line, front first. Each tier holds jobs whose order among
        # themselves the contract leaves open (several jobs stalled in one check).
        self.wait: list[set[str]] = []
        # Per priority: jobs put back by move_to_wait (ahead, order open), then FIFO.
        self.prio: dict[int, tuple[set[str], list[str]]] = {}
        self.counter = 0
        self.seq = 0
        self.paused = False
        self.limited_until = 0
        self.stalled_check_until = 0

    # -- lines ------------------------------------------------------------------

    def _line(self, job: ModelJob, *, front: bool) -> None:
        if job.priority > 0:
            ahead, fifo = self.prio.setdefault(job.priority, (set(), []))
            job.state = JobState.PRIORITIZED
            if front:
                ahead.add(job.id)
            else:
                fifo.append(job.id)
            return
        job.state = JobState.WAITING
        if front:
            self.wait.insert(0, {job.id})
        else:
            self.wait.append({job.id})

    def _take(self, job_id: str) -> None:
        for tier in self.wait:
            tier.discard(job_id)
        self.wait = [t for t in self.wait if t]
        for ahead, fifo in self.prio.values():
            ahead.discard(job_id)
            if job_id in fifo:
                fifo.remove(job_id)

    def next_candidates(self) -> set[str]:
        if self.wait:
            return set(self.wait[0])
        for priority in sorted(self.prio):
            ahead, fifo = self.prio[priority]
            if ahead:
                return set(ahead)
            if fifo:
                return {fifo[0]}
        return set()

    def promote_due(self) -> None:
        due = sorted(
            (j for j in self.jobs.values() if j.state is JobState.DELAYED and j.due <= self.now),
            key=lambda j: (j.due, j.seq),
        )
        for job in due:
            job.delay = 0
            self._line(job, front=False)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    # -- operations -------------------------------------------------------------

    def add(self, job: ModelJob, delay: int) -> None:
        self.jobs[job.id] = job
        job.seq = self.next_seq()
        if delay > 0:
            job.state, job.delay, job.due = JobState.DELAYED, delay, self.now + delay
        else:
            self._line(job, front=job.lifo)

    def lock_live(self, job: ModelJob) -> bool:
        return job.state is JobState.ACTIVE and job.token is not None and job.lock_until > self.now

    def refusal(self, job_id: str, token: str) -> type[JobError] | None:
        job = self.jobs.get(job_id)
        if job is None:
            return JobNotFoundError
        if not self.lock_live(job):
            return MissingLockError
        if job.token != token:
            return LockMismatchError
        return None

    def activate(self, job_id: str, token: str, lock_ms: int) -> ModelJob:
        job = self.jobs[job_id]
        self._take(job_id)
        job.state, job.token, job.lock_until = JobState.ACTIVE, token, self.now + lock_ms
        job.candidate = False
        job.attempts_started += 1
        return job

    def release(self, job: ModelJob) -> None:
        job.token, job.lock_until, job.candidate = None, 0, False

    def finish(self, job: ModelJob, state: JobState, *, remove: bool) -> None:
        self.release(job)
        job.attempts_made += 1
        job.state, job.deferred = state, False
        if remove:
            del self.jobs[job.id]

    def retry(self, job: ModelJob, delay: int) -> None:
        self.release(job)
        job.attempts_made += 1
        if delay > 0:
            job.state, job.delay, job.due = JobState.DELAYED, delay, self.now + delay
            job.seq = self.next_seq()
        else:
            self.promote_due()
            self._line(job, front=job.lifo)

    def stalled_check(self, interval: int) -> set[str] | None:
        """The ids the check returns to wait; None when the throttle stops it."""
        if self.now < self.stalled_check_until:
            return None
        self.stalled_check_until = self.now + interval
        stalled = {
            j.id
            for j in self.jobs.values()
            if j.state is JobState.ACTIVE and j.candidate and j.lock_until <= self.now
        }
        for job_id in stalled:
            job = self.jobs[job_id]
            self.release(job)
            job.stalled_counter += 1
            if job.stalled_counter > MAX_STALLED:
                job.deferred = True
            job.state = JobState.WAITING
        if stalled:
            self.wait.insert(0, set(stalled))
        for job in self.jobs.values():
            if job.state is JobState.ACTIVE:
                job.candidate = True
        return stalled

    def in_state(self, state: JobState) -> set[str]:
        return {j.id for j in self.jobs.values() if j.state is state}


class JobLife(RuleBasedStateMachine):
    """One queue on one real store, against :class:`Model`."""

    URL = ""
    IS_REDIS = False

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.queue = f"model-{uuid.uuid4().hex[:10]}"
        self.backend: Backend = open_backend(self.URL)
        self.keys = QueueKeys("bull", self.queue)
        self.model = Model(time.time_ns() // 1_000_000)
        self.expired: set[str] = set()

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.backend.close())
        self.loop.close()

    # -- time -------------------------------------------------------------------------

    def _expire_key(self, key: str) -> None:
        backend: Any = self.backend
        self.run(backend.redis.execute("PEXPIREAT", key, 1))

    def advance(self, ms: int) -> None:
        """Move the virtual clock; on Redis, expire the keys whose time has come."""
        m = self.model
        m.now += ms
        if not self.IS_REDIS:
            return
        for job in m.jobs.values():
            if job.state is JobState.ACTIVE and job.lock_until <= m.now:
                self._expire_key(self.keys.job(job.id) + ":lock")
        if m.limited_until and m.limited_until <= m.now:
            self._expire_key(self.keys.key("limiter"))
        if m.stalled_check_until and m.stalled_check_until <= m.now:
            self._expire_key(self.keys.key("stalled-check"))

    # -- helpers ----------------------------------------------------------------------

    def pick(self, data: st.DataObject, *, only_active: bool = False) -> tuple[str, str]:
        """A job id (sometimes one that does not exist) and a token (sometimes wrong)."""
        m = self.model
        if only_active:
            active = sorted(m.in_state(JobState.ACTIVE))
            job_id = data.draw(st.sampled_from(active))
            token = m.jobs[job_id].token
            assert token is not None
            if data.draw(st.booleans()):
                return job_id, token
            return job_id, data.draw(st.sampled_from(TOKENS))
        ids = [*sorted(m.jobs), "missing-job"]
        return data.draw(st.sampled_from(ids)), data.draw(st.sampled_from(TOKENS))

    def refused(self, expected: type[JobError], call: Any, job_id: str) -> None:
        with pytest.raises(JobError) as caught:
            self.run(call)
        assert type(caught.value) is expected, (caught.value, expected)
        assert caught.value.job_id == job_id

    # -- rules --------------------------------------------------------------------------

    @initialize()
    def start(self) -> None:
        self.check()

    @rule(
        kind=st.sampled_from(["plain", "priority", "delayed", "lifo", "custom", "duplicate"]),
        priority=st.sampled_from([1, 2, 7]),
        delay=DELAY_MS,
        attempts=st.integers(min_value=0, max_value=3),
        backoff=st.sampled_from([0, 0, 1_000, 50_000]),
        data=st.data(),
    )
    def add(
        self,
        kind: str,
        priority: int,
        delay: int,
        attempts: int,
        backoff: int,
        data: st.DataObject,
    ) -> None:
        m = self.model
        job_id: str | None = None
        if kind == "custom":
            job_id = f"custom-{m.counter}"
        elif kind == "duplicate":
            customs = sorted(i for i in m.jobs if i.startswith("custom-"))
            if not customs:
                return
            job_id = data.draw(st.sampled_from(customs))
        opts = JobOptions.build(
            job_id=job_id,
            delay=delay / 1000 if kind == "delayed" else 0,
            priority=priority if kind == "priority" else 0,
            lifo=kind == "lifo",
            attempts=attempts,
            backoff=Backoff("fixed", backoff / 1000) if backoff else None,
        )
        spec = NewJob(
            name=kind,
            data=dumps({"kind": kind}),
            opts=dumps(opts.to_wire()),
            timestamp_ms=m.now,
            delay_ms=opts.delay_ms,
            priority=opts.priority,
            lifo=opts.lifo,
            job_id=job_id,
        )
        (added,) = self.run(self.backend.add_jobs(self.queue, [spec]))
        m.counter += 1
        if kind == "duplicate":
            assert added == job_id
            return
        assert added == (job_id or str(m.counter))
        job = ModelJob(added, opts.priority, opts.lifo, attempts, backoff, JobState.UNKNOWN)
        m.add(job, opts.delay_ms)

    @rule(token=st.sampled_from(TOKENS), lock_ms=LOCK_MS)
    def fetch(self, token: str, lock_ms: int) -> None:
        m = self.model
        fetched = self.run(
            self.backend.move_to_active(self.queue, FetchRequest(token, lock_ms), m.now)
        )
        m.promote_due()
        if m.limited_until > m.now:
            assert fetched.job is None
            assert fetched.rate_limited_for_ms > 0
            return
        assert fetched.rate_limited_for_ms == 0
        candidates = set() if m.paused else m.next_candidates()
        if not candidates:
            assert fetched.job is None, fetched
            if not m.paused:
                dues = [j.due for j in m.jobs.values() if j.state is JobState.DELAYED]
                assert fetched.next_delayed_at_ms == (min(dues) if dues else 0)
            return
        record = fetched.job
        assert record is not None, (candidates, fetched)
        assert record.id in candidates, (record.id, candidates)
        job = m.activate(record.id, token, lock_ms)
        assert record.attempts_started == job.attempts_started
        assert record.processed_on_ms == m.now
        assert bool(record.deferred_failure) == job.deferred
        opts = parse_opts(record.opts)
        assert (opts.priority, opts.lifo, opts.attempts) == (job.priority, job.lifo, job.attempts)
        if job.deferred:
            # What the API does with such a job (corral.job.take_fetched): fail it now.
            assert record.deferred_failure == STALLED_LIMIT_REASON
            outcome = Failed(STALLED_LIMIT_REASON, "[]", KeepJobs(), job.attempts)
            self.run(self.backend.move_to_finished(self.queue, job.id, token, outcome, m.now))
            job.failed_reason = STALLED_LIMIT_REASON
            m.finish(job, JobState.FAILED, remove=False)

    @rule(data=st.data(), remove=st.booleans(), on_active=st.booleans())
    def complete(self, data: st.DataObject, remove: bool, on_active: bool) -> None:
        m = self.model
        on_active = on_active and bool(m.in_state(JobState.ACTIVE))
        job_id, token = self.pick(data, only_active=on_active)
        keep = KeepJobs(count=0) if remove else KeepJobs()
        call = self.backend.move_to_finished(
            self.queue, job_id, token, Completed('{"ok":true}', keep), m.now
        )
        expected = m.refusal(job_id, token)
        if expected is not None:
            self.refused(expected, call, job_id)
            return
        assert self.run(call) is None
        m.finish(m.jobs[job_id], JobState.COMPLETED, remove=remove)

    @rule(data=st.data(), on_active=st.booleans())
    def fail(self, data: st.DataObject, on_active: bool) -> None:
        m = self.model
        on_active = on_active and bool(m.in_state(JobState.ACTIVE))
        job_id, token = self.pick(data, only_active=on_active)
        expected = m.refusal(job_id, token)
        job = m.jobs.get(job_id)
        error = RuntimeError("boom")
        if job is not None:
            record = self.run(self.backend.get_job(self.queue, job_id))
            assert record is not None
            delay = retry_delay(parse_opts(record.opts), record.attempts_made, error)
            # The policy decides from the stored options exactly as the model does.
            retries = job.attempts_made + 1 < job.attempts
            assert (delay is not None) == retries
            assert delay is None or delay == job.backoff_ms
        else:
            delay = None
        if delay is None:
            call: Any = self.backend.move_to_finished(
                self.queue, job_id, token, Failed("boom", "[]", KeepJobs(), 0), m.now
            )
        else:
            call = self.backend.retry_job(
                self.queue, job_id, token, Retry("boom", "[]", delay), m.now
            )
        if expected is not None:
            self.refused(expected, call, job_id)
            return
        self.run(call)
        assert job is not None
        job.failed_reason = "boom"
        if delay is None:
            m.finish(job, JobState.FAILED, remove=False)
        else:
            m.retry(job, delay)

    @rule(data=st.data(), duration=LOCK_MS, on_active=st.booleans())
    def extend_lock(self, data: st.DataObject, duration: int, on_active: bool) -> None:
        m = self.model
        on_active = on_active and bool(m.in_state(JobState.ACTIVE))
        job_id, token = self.pick(data, only_active=on_active)
        call = self.backend.extend_lock(self.queue, job_id, token, duration, m.now)
        expected = m.refusal(job_id, token)
        if expected is not None:
            self.refused(expected, call, job_id)
            return
        assert self.run(call) is None
        job = m.jobs[job_id]
        job.lock_until, job.candidate = m.now + duration, False

    @rule(data=st.data(), on_active=st.booleans())
    def move_to_wait(self, data: st.DataObject, on_active: bool) -> None:
        m = self.model
        on_active = on_active and bool(m.in_state(JobState.ACTIVE))
        job_id, token = self.pick(data, only_active=on_active)
        call = self.backend.move_to_wait(self.queue, job_id, token, m.now)
        expected = m.refusal(job_id, token)
        if expected is not None:
            self.refused(expected, call, job_id)
            return
        ttl = self.run(call)
        assert (ttl > 0) == (m.limited_until > m.now)
        job = m.jobs[job_id]
        m.release(job)
        m._line(job, front=True)

    @rule(ms=JUMP_MS)
    def time_passes(self, ms: int) -> None:
        self.advance(ms)

    @precondition(lambda self: bool(self.model.in_state(JobState.ACTIVE)))
    @rule(data=st.data())
    def stall(self, data: st.DataObject) -> None:
        """Let the lock of one active job expire: move the clock to its expiry."""
        m = self.model
        job_id = data.draw(st.sampled_from(sorted(m.in_state(JobState.ACTIVE))))
        self.advance(max(0, m.jobs[job_id].lock_until - m.now))

    @rule(interval=STALLED_INTERVAL_MS, wait_out=st.booleans())
    def check_stalled(self, interval: int, wait_out: bool) -> None:
        """Run the stalled checker; with ``wait_out``, once its throttle has passed."""
        m = self.model
        if wait_out:
            self.advance(max(0, m.stalled_check_until - m.now))
        got = self.run(self.backend.move_stalled_to_wait(self.queue, MAX_STALLED, interval, m.now))
        expected = m.stalled_check(interval)
        assert set(got) == (expected or set()), (got, expected)
        assert len(got) == len(set(got))

    @rule(duration=LIMIT_MS)
    def rate_limit(self, duration: int) -> None:
        m = self.model
        self.run(self.backend.rate_limit(self.queue, duration, m.now))
        m.limited_until = m.now + duration

    @rule()
    def pause(self) -> None:
        self.run(self.backend.pause(self.queue))
        self.model.paused = True

    @rule()
    def resume(self) -> None:
        self.run(self.backend.resume(self.queue))
        self.model.paused = False

    # -- checks --------------------------------------------------------------------------

    @invariant()
    def check(self) -> None:
        m = self.model
        backend = self.backend
        counts = self.run(backend.get_counts(self.queue, LISTED))
        want = {state: len(m.in_state(state)) for state in LISTED}
        assert counts == want, (counts, want)
        for state in LISTED:
            records = self.run(backend.get_jobs(self.queue, [state]))
            assert {r.id for r in records} == m.in_state(state), state
            for record in records:
                job = m.jobs[record.id]
                got = (record.attempts_made, record.attempts_started, record.stalled_counter)
                assert got == (job.attempts_made, job.attempts_started, job.stalled_counter), (
                    record,
                    job,
                )
                assert bool(record.deferred_failure) == job.deferred
                assert record.failed_reason == job.failed_reason
                if state is JobState.DELAYED:
                    assert record.delay_ms == job.delay
        assert self.run(backend.is_paused(self.queue)) == m.paused
        ttl = self.run(backend.get_rate_limit_ttl(self.queue, m.now))
        assert (ttl > 0) == (m.limited_until > m.now)
        # Each job's own state, and an unknown id.
        for job_id in sorted(m.jobs)[:3]:
            assert self.run(backend.get_state(self.queue, job_id)) is m.jobs[job_id].state
        assert self.run(backend.get_state(self.queue, "missing-job")) is JobState.UNKNOWN


SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_job_life_matches_the_model(url: str) -> None:
    class Machine(JobLife):
        URL = url
        IS_REDIS = url.startswith("redis")

    run_state_machine_as_test(Machine, settings=SETTINGS)


async def test_a_retry_with_backoff_promotes_no_delayed_job(url: str, queue_name: str) -> None:
    """Found by the model: SQLite used to promote due delayed jobs on every retry, Redis
    (like BullMQ's moveToDelayed) only on an immediate one; now both wait for a fetch."""
    backend = open_backend(url)
    try:
        now = time.time_ns() // 1_000_000
        await backend.add_jobs(queue_name, [NewJob("a", "{}", '{"attempts":3}', now)])
        await backend.add_jobs(queue_name, [NewJob("b", "{}", '{"delay":5}', now, delay_ms=5)])
        await backend.move_to_active(queue_name, FetchRequest("t", 60_000), now)
        await backend.retry_job(queue_name, "1", "t", Retry("boom", "[]", 50_000), now + 10)
        counts = await backend.get_counts(queue_name, [JobState.WAITING, JobState.DELAYED])
        assert counts == {JobState.WAITING: 0, JobState.DELAYED: 2}
    finally:
        await backend.close()
