"""What each blocking method returns, and ``sync.Worker.run()`` with a plain-def processor.

Every method that returns a value has a test that fails if the facade handed
back the wrong thing (an async Job, a default, the wrong field). All run on
both backends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import corral
from corral import JobState, sync

WorkerFactory = Callable[..., sync.Worker]


@pytest.fixture
def queue(url: str, queue_name: str) -> Iterator[sync.Queue]:
    with sync.Queue(queue_name, url=url) as q:
        yield q


@pytest.fixture
def make_worker(url: str, queue_name: str) -> Iterator[WorkerFactory]:
    made: list[sync.Worker] = []

    def factory(processor: Any = None, **options: Any) -> sync.Worker:
        options.setdefault("drain_delay", 0.2)
        worker = sync.Worker(queue_name, processor, url=url, **options)
        made.append(worker)
        return worker

    yield factory
    for worker in made:
        worker.close(grace=0)


def _fetch(worker: sync.Worker, token: str = "tok") -> sync.Job:
    job = worker.get_next_job(token, block=False)
    assert isinstance(job, sync.Job)
    return job


# -- Worker.run -----------------------------------------------------------------------


def test_run_with_a_plain_def_processes_jobs_and_returns_after_close_from_another_thread(
    queue: sync.Queue, make_worker: WorkerFactory
) -> None:
    added = [queue.add("square", {"n": n}) for n in range(5)]
    seen: list[str] = []
    all_seen = threading.Event()

    def square(job: corral.Job) -> int:
        assert threading.current_thread() is not threading.main_thread()
        # A plain-def processor may use the blocking API on the job it was given.
        sync.Job(job).update_progress(50)
        seen.append(job.id)
        if len(seen) == len(added):
            all_seen.set()
        return int(job.data["n"]) ** 2

    worker = make_worker(square, concurrency=2)

    def close_when_done() -> None:
        all_seen.wait(timeout=60)
        worker.close(grace=30)

    closer = threading.Thread(target=close_when_done)
    closer.start()
    worker.run()  # returns only once close() has stopped it
    closer.join()
    assert all_seen.is_set()
    assert not worker.running
    assert not worker.stopped_at_once
    assert worker.closed
    assert queue.get_job_counts("completed", "active") == {"completed": 5, "active": 0}
    for n, job in enumerate(added):
        stored = queue.get_job(job.id)
        assert stored is not None
        assert (stored.return_value, stored.progress) == (n * n, 50)


def test_on_returns_the_callback_and_the_hook_fires(
    queue: sync.Queue, make_worker: WorkerFactory
) -> None:
    queue.add("hooked", {})
    completed: list[tuple[str, Any]] = []
    worker = make_worker(lambda job: "fine")

    def on_completed(job: corral.Job, result: Any) -> None:
        completed.append((job.name, result))
        threading.Thread(target=worker.close).start()

    assert worker.on("completed", on_completed) is on_completed
    worker.run()
    assert completed == [("hooked", "fine")]


def test_pause_and_resume_stop_and_restart_a_running_worker_from_another_thread(
    queue: sync.Queue, make_worker: WorkerFactory
) -> None:
    done: list[str] = []
    worker = make_worker(lambda job: done.append(job.id))
    worker.pause()
    assert worker.is_paused()
    runner = threading.Thread(target=worker.run)
    runner.start()
    queue.add("held", {})
    time.sleep(0.5)
    assert done == []
    assert queue.get_job_state("1") is JobState.WAITING
    worker.resume()
    assert not worker.is_paused()
    deadline = time.monotonic() + 10
    while not done and time.monotonic() < deadline:
        time.sleep(0.02)
    worker.close()
    runner.join()
    assert done == ["1"]


# -- Queue ----------------------------------------------------------------------------


def test_add_returns_a_sync_job_with_its_data_and_options(queue: sync.Queue) -> None:
    job = queue.add("send", {"to": "a"}, priority=3, attempts=2)
    assert isinstance(job, sync.Job)
    assert (job.name, job.data, job.priority, job.opts.attempts) == ("send", {"to": "a"}, 3, 2)
    assert queue.get_job_state(job.id) == JobState.PRIORITIZED


def test_add_bulk_returns_sync_jobs_in_order(queue: sync.Queue) -> None:
    jobs = queue.add_bulk([{"name": "a", "data": 1}, {"name": "b", "data": 2}])
    assert all(isinstance(job, sync.Job) for job in jobs)
    assert [(job.name, job.data) for job in jobs] == [("a", 1), ("b", 2)]


def test_get_job_returns_the_stored_job_or_none(queue: sync.Queue) -> None:
    added = queue.add("stored", {"k": "v"})
    found = queue.get_job(added.id)
    assert isinstance(found, sync.Job)
    assert (found.id, found.data) == (added.id, {"k": "v"})
    assert queue.get_job("no-such-job") is None


def test_get_job_state_tells_the_state(queue: sync.Queue) -> None:
    assert queue.get_job_state(queue.add("later", {}, delay=3600).id) == JobState.DELAYED
    assert queue.get_job_state("no-such-job") == JobState.UNKNOWN


def test_get_job_counts_counts_per_state(queue: sync.Queue) -> None:
    queue.add("a", {})
    queue.add("b", {})
    queue.add("c", {}, delay=3600)
    assert queue.get_job_counts("waiting", "delayed", "failed") == {
        "waiting": 2,
        "delayed": 1,
        "failed": 0,
    }


def test_get_jobs_returns_sync_jobs_of_the_states(queue: sync.Queue) -> None:
    first = queue.add("first", {"i": 1})
    second = queue.add("second", {"i": 2})
    queue.add("later", {}, delay=3600)
    jobs = queue.get_jobs("waiting")
    assert all(isinstance(job, sync.Job) for job in jobs)
    assert [(job.id, job.data) for job in jobs] == [(first.id, {"i": 1}), (second.id, {"i": 2})]
    assert [job.id for job in queue.get_jobs("waiting", start=1, end=1)] == [second.id]


def test_get_job_logs_returns_the_lines(queue: sync.Queue) -> None:
    job = queue.add("logged", {})
    job.log("one")
    job.log("two")
    assert queue.get_job_logs(job.id) == ["one", "two"]
    assert queue.get_job_logs(job.id, 1) == ["two"]


def test_queue_remove_tells_whether_there_was_a_job(queue: sync.Queue) -> None:
    job = queue.add("doomed", {})
    assert queue.remove(job.id) is True
    assert queue.remove(job.id) is False


def test_get_rate_limit_ttl_returns_the_seconds_left(queue: sync.Queue) -> None:
    assert queue.get_rate_limit_ttl() == 0.0
    queue.rate_limit(60)
    assert 0 < queue.get_rate_limit_ttl() <= 60


def test_is_paused_follows_pause_and_resume(queue: sync.Queue) -> None:
    assert queue.is_paused() is False
    queue.pause()
    assert queue.is_paused() is True
    queue.resume()
    assert queue.is_paused() is False


# -- Worker ----------------------------------------------------------------------------


def test_get_next_job_returns_a_sync_job_with_data_and_token(
    queue: sync.Queue, make_worker: WorkerFactory
) -> None:
    worker = make_worker()
    assert worker.get_next_job("tok", block=False) is None
    added = queue.add("work", {"payload": [1, 2]})
    job = _fetch(worker)
    assert (job.id, job.data, job.token) == (added.id, {"payload": [1, 2]}, "tok")
    assert job.get_state() == JobState.ACTIVE


def test_check_stalled_jobs_returns_the_ids_returned_to_wait(
    queue: sync.Queue, make_worker: WorkerFactory
) -> None:
    job = queue.add("abandoned", {})
    _fetch(make_worker(lock_duration=0.05))
    checker = make_worker(stalled_interval=0.05)  # checks closer together are skipped
    assert checker.check_stalled_jobs() == []  # the first pass marks candidates
    time.sleep(0.2)  # the abandoned lock expires
    assert checker.check_stalled_jobs() == [job.id]
    assert queue.get_job_state(job.id) == JobState.WAITING


# -- Job ------------------------------------------------------------------------------


def test_move_to_completed_with_fetch_next_returns_the_next_sync_job(
    queue: sync.Queue, make_worker: WorkerFactory
) -> None:
    queue.add("first", {"i": 1})
    second = queue.add("second", {"i": 2})
    first = _fetch(make_worker())
    nxt = first.move_to_completed("done", "tok", fetch_next=True)
    assert isinstance(nxt, sync.Job)
    assert (nxt.id, nxt.data, nxt.token) == (second.id, {"i": 2}, "tok")
    assert first.token is None  # the forwarded attribute follows the async job
    assert nxt.move_to_completed("done", "tok", fetch_next=True) is None


def test_move_to_failed_with_fetch_next_returns_the_next_sync_job(
    queue: sync.Queue, make_worker: WorkerFactory
) -> None:
    queue.add("bad", {})
    good = queue.add("good", {"ok": True})
    bad = _fetch(make_worker())
    nxt = bad.move_to_failed(ValueError("boom"), "tok", fetch_next=True)
    assert isinstance(nxt, sync.Job)
    assert (nxt.id, nxt.data) == (good.id, {"ok": True})
    assert bad.failed_reason == "boom"
    assert queue.get_job_state(bad.id) == JobState.FAILED


def test_move_to_wait_returns_the_seconds_left_on_the_rate_limit(
    queue: sync.Queue, make_worker: WorkerFactory
) -> None:
    queue.add("a", {})
    queue.add("b", {})
    worker = make_worker()
    assert _fetch(worker, "t1").move_to_wait("t1") == 0.0
    job = _fetch(worker, "t2")
    queue.rate_limit(60)
    assert 0 < job.move_to_wait("t2") <= 60


def test_job_log_returns_the_line_count_and_get_logs_the_lines(queue: sync.Queue) -> None:
    job = queue.add("logged", {})
    assert job.log("one") == 1
    assert job.log("two") == 2
    assert job.log("three", keep=2) == 2
    assert job.get_logs() == ["two", "three"]


def test_job_remove_tells_whether_it_was_there(queue: sync.Queue) -> None:
    job = queue.add("doomed", {})
    assert job.remove() is True
    assert job.remove() is False


def test_job_get_state_follows_the_job(queue: sync.Queue, make_worker: WorkerFactory) -> None:
    assert queue.add("later", {}, delay=3600).get_state() == JobState.DELAYED
    job = queue.add("now", {})
    assert job.get_state() == JobState.WAITING
    _fetch(make_worker())
    assert job.get_state() == JobState.ACTIVE


def test_job_create_adds_and_returns_a_sync_job(queue: sync.Queue) -> None:
    job = sync.Job.create(queue, "made", {"x": 1}, priority=2)
    assert isinstance(job, sync.Job)
    assert (job.data, job.priority) == ({"x": 1}, 2)
    assert queue.get_job_state(job.id) == JobState.PRIORITIZED


def test_job_from_json_builds_a_sync_job_whose_moves_go_through_the_owner(
    queue: sync.Queue,
) -> None:
    stored = queue.add("raw", {"r": 1})
    raw = {"name": "raw", "data": '{"r": 1}', "timestamp": "1700000000000"}
    job = sync.Job.from_json(queue, raw, stored.id)
    assert isinstance(job, sync.Job)
    assert (job.id, job.name, job.data) == (stored.id, "raw", {"r": 1})
    assert job.get_state() == JobState.WAITING
    with pytest.raises(TypeError, match=r"corral\.sync Queue or Worker"):
        sync.Job.from_json(queue._wrapped, raw, stored.id)  # type: ignore[arg-type]


# -- QueueEvents ------------------------------------------------------------------------


def test_queue_events_read_returns_the_events_since_entry(
    url: str, queue_name: str, queue: sync.Queue
) -> None:
    queue.add("before", {})
    with sync.QueueEvents(queue_name, url=url) as events:
        job = queue.add("after", {})
        got = events.read(block=1)
        assert [(e.event, e.job_id) for e in got[:2]] == [("added", job.id), ("waiting", job.id)]
        assert events.last_event_id == got[-1].id
        assert events.read(block=0.01) == []


def test_iterating_queue_events_yields_events_until_close_from_another_thread(
    url: str, queue_name: str, queue: sync.Queue
) -> None:
    events = sync.QueueEvents(queue_name, url=url, block=0.1)
    with events:
        job = queue.add("watched", {})
        names: list[str] = []
        for event in events:
            assert event.job_id == job.id
            names.append(event.event)
            if event.event == "waiting":
                threading.Thread(target=events.close).start()
    assert names == ["added", "waiting"]
    assert events.closed
