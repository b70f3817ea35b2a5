"""Ctrl-C and SIGTERM reach blocking code: real signals sent to a child process.

- A call blocked on the portal's loop (``get_next_job(block=True)`` with a long
  ``drain_delay``) ends with ``KeyboardInterrupt`` at once, its coroutine cancelled.
- ``sync.Worker.run(handle_signals=True)``: the first signal lets the running job
  finish, a second one stops at once.
"""

from __future__ import annotations

import asyncio
import os
import queue as queue_module
import signal
import subprocess
import sys
import textwrap
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest

from corral import sync

ROOT = Path(__file__).resolve().parent.parent
WAIT = 60  # seconds: only a hang takes this long


class Child:
    """A Python child process whose stdout is read line by line with a deadline."""

    def __init__(self, code: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # a Ctrl-C at the terminal is not sent to it
        )
        self.lines: queue_module.Queue[str] = queue_module.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, text: str) -> str:
        """The next line containing ``text`` (the lines before it are kept in ``seen``)."""
        while True:
            try:
                line = self.lines.get(timeout=WAIT)
            except queue_module.Empty:
                self.proc.kill()
                _out, err = self.proc.communicate()
                raise AssertionError(
                    f"no line with {text!r}; saw {self.seen}; stderr:\n{err}"
                ) from None
            self.seen.append(line)
            if text in line:
                return line
            if line.startswith("crashed"):
                raise AssertionError(f"the child failed while the test waited for {text!r}: {line}")

    def send(self, sig: signal.Signals) -> None:
        os.kill(self.proc.pid, sig)

    def finish(self) -> tuple[int, str]:
        """Close stdin, wait for the exit; the return code and stderr."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        assert self.proc.stderr is not None
        return self.proc.returncode, self.proc.stderr.read()


BLOCKED_FETCH = """
    import asyncio, signal, sys, threading
    from corral import sync
    from corral._portal import get_portal

    # Ctrl-C raises KeyboardInterrupt even if this process was started with SIGINT
    # ignored (as a shell starts a background job), which Python would keep.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    url, name = sys.argv[1:3]
    loop = get_portal().loop

    def fetch_tasks():
        async def probe():
            return [t for t in asyncio.all_tasks() if "get_next_job" in repr(t.get_coro())]
        return asyncio.run_coroutine_threadsafe(probe(), loop).result()

    def announce():
        # Say so once the fetch is waiting on the loop, with the main thread blocked on it.
        while not fetch_tasks():
            threading.Event().wait(0.01)
        print("blocked", flush=True)

    worker = sync.Worker(name, url=url, drain_delay=600)
    threading.Thread(target=announce, daemon=True).start()
    try:
        worker.get_next_job("tok", block=True)
    except KeyboardInterrupt:
        print("interrupted; fetches left on the loop:", len(fetch_tasks()), flush=True)
        raise
    print("returned without an interrupt", flush=True)
"""


def test_ctrl_c_interrupts_a_blocked_call_and_cancels_it(url: str, queue_name: str) -> None:
    child = Child(BLOCKED_FETCH, url, queue_name)
    child.expect("blocked")
    child.send(signal.SIGINT)
    assert child.expect("interrupted") == "interrupted; fetches left on the loop: 0"
    code, err = child.finish()
    assert code != 0
    assert "KeyboardInterrupt" in err
    assert "returned without an interrupt" not in child.seen


RUN_WITH_SIGNALS = """
    import logging, sys
    from corral import sync

    import os
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="log: %(message)s")
    url, name = sys.argv[1:3]
    queue = sync.Queue(name, url=url)
    job = queue.add("slow", {})

    def slow(job):
        print("started", flush=True)
        return sys.stdin.readline().strip()  # until the test says so

    worker = sync.Worker(name, slow, url=url, drain_delay=0.2)
    try:
        worker.run(handle_signals=True, grace=600)
    except BaseException as error:
        print("crashed:", repr(error), flush=True)
        os._exit(1)  # the processor's thread is still reading stdin
    state = queue.get_job_state(job.id).value
    print("ended", state, queue.get_job(job.id).return_value, worker.stopped_at_once, flush=True)
"""


def test_run_with_signals_lets_the_job_finish_after_the_first_signal(
    url: str, queue_name: str
) -> None:
    child = Child(RUN_WITH_SIGNALS, url, queue_name)
    child.expect("started")
    child.send(signal.SIGINT)
    child.expect("SIGINT received: finishing running jobs")
    assert child.proc.stdin is not None
    child.proc.stdin.write("finished anyway\n")
    child.proc.stdin.flush()
    assert child.expect("ended") == "ended completed finished anyway False"
    code, err = child.finish()
    assert code == 0, err


def test_run_with_signals_stops_at_once_on_a_second_signal(url: str, queue_name: str) -> None:
    child = Child(RUN_WITH_SIGNALS, url, queue_name)
    child.expect("started")
    child.send(signal.SIGTERM)
    child.expect("SIGTERM received: finishing running jobs")
    child.send(signal.SIGINT)
    child.expect("second signal: stopping now")
    # The job is abandoned to stall back: still active, no return value.
    assert child.expect("ended") == "ended active None True"
    code, err = child.finish()
    assert code == 0, err


def test_run_with_signals_off_the_main_thread_is_refused(sqlite_url: str, queue_name: str) -> None:
    worker = sync.Worker(queue_name, lambda job: None, url=sqlite_url)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            worker.run(handle_signals=True)
        except RuntimeError as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=WAIT)
    worker.close()
    assert len(errors) == 1
    assert "main thread" in str(errors[0])
    assert not worker.running  # refused before it started


def test_a_coroutines_own_timeout_error_is_not_taken_for_a_wait_slice() -> None:
    from corral._portal import get_portal

    async def times_out() -> None:
        raise TimeoutError("the store took too long")

    with pytest.raises(TimeoutError, match="the store took too long"):
        get_portal().call(times_out())


class _InterruptedScheduling:
    """Stands in for a Ctrl-C landing inside ``call_soon_threadsafe`` (``after``: once
    the callback is queued; else before): a signal may interrupt any line of it."""

    def __init__(self, loop: Any, *, after: bool) -> None:
        self.loop, self.after = loop, after
        self.real = loop.call_soon_threadsafe

    def __call__(self, callback: Any, *args: Any) -> Any:
        self.loop.call_soon_threadsafe = self.real  # only the first call is interrupted
        if self.after:
            self.real(callback, *args)
        raise KeyboardInterrupt


@pytest.mark.parametrize("after", [True, False], ids=["queued", "not-queued"])
def test_an_interrupt_while_a_call_is_being_started_cancels_it(after: bool) -> None:
    from corral._portal import Portal

    portal = Portal()
    ran: list[str] = []

    async def long_call() -> None:
        ran.append("started")
        try:
            await asyncio.sleep(600)
        except asyncio.CancelledError:
            ran.append("cancelled")
            raise

    async def tasks_left() -> int:
        return len(asyncio.all_tasks()) - 1  # but this one

    try:
        portal.loop.call_soon_threadsafe = _InterruptedScheduling(  # type: ignore[method-assign,assignment]
            portal.loop, after=after
        )
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a coroutine never awaited nor closed
            with pytest.raises(KeyboardInterrupt):
                portal.call(long_call())
        assert portal.call(tasks_left()) == 0
        # Cancelled before its first step, or in its wait; never left running.
        assert ran in ([], ["started", "cancelled"])
    finally:
        portal.stop()
