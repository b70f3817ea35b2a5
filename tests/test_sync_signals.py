"""The shutdown-signal policy, with real signals sent to this process.

The first SIGINT/SIGTERM closes with the grace period, any later one at once
(``grace=0``), each with one log line; the same policy whether the handler sits
on a loop in the main thread (``Worker.run``) or in the main thread for a loop on
another thread (``corral.sync.Worker.run``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Iterator

import pytest

from corral._engine.signals import ShutdownSignals


async def test_on_the_loop_the_first_signal_closes_gracefully_the_second_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    graces: list[float | None] = []
    called = asyncio.Event()

    async def close(grace: float | None) -> None:
        graces.append(grace)
        called.set()

    async def next_close() -> None:
        await asyncio.wait_for(called.wait(), timeout=30)
        called.clear()

    signals = ShutdownSignals(close, 12.5)
    remove = signals.install_on_loop(asyncio.get_running_loop())
    caplog.set_level(logging.INFO, logger="corral.worker")
    try:
        os.kill(os.getpid(), signal.SIGINT)
        await next_close()
        os.kill(os.getpid(), signal.SIGTERM)
        await next_close()
        await signals.wait_closed()
    finally:
        remove()
    assert graces == [12.5, 0]
    assert signals.received == 2
    assert [r.getMessage() for r in caplog.records if r.name == "corral.worker"] == [
        "SIGINT received: finishing running jobs (send it again to stop now)",
        "second signal: stopping now; unfinished jobs will stall back",
    ]
    # Removed: SIGINT is Python's KeyboardInterrupt again.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.fixture
def loop_thread() -> Iterator[tuple[asyncio.AbstractEventLoop, threading.Thread]]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="test-loop")
    thread.start()
    yield loop, thread
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


def test_in_the_main_thread_signals_are_acted_on_in_the_loops_thread(
    loop_thread: tuple[asyncio.AbstractEventLoop, threading.Thread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop, thread = loop_thread
    closes: list[tuple[float | None, threading.Thread]] = []
    closed = [threading.Event(), threading.Event()]

    async def close(grace: float | None) -> None:
        closes.append((grace, threading.current_thread()))
        closed[len(closes) - 1].set()

    caplog.set_level(logging.INFO, logger="corral.worker")
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signals = ShutdownSignals(close, 7.0)
    restore = signals.install_in_main_thread(loop)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        assert closed[0].wait(timeout=30)
        os.kill(os.getpid(), signal.SIGINT)  # no KeyboardInterrupt: it is handled
        assert closed[1].wait(timeout=30)
    finally:
        restore()
    assert closes == [(7.0, thread), (0, thread)]
    assert [r.getMessage() for r in caplog.records if r.name == "corral.worker"] == [
        "SIGTERM received: finishing running jobs (send it again to stop now)",
        "second signal: stopping now; unfinished jobs will stall back",
    ]
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_a_close_that_fails_is_logged(
    loop_thread: tuple[asyncio.AbstractEventLoop, threading.Thread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop, _thread = loop_thread
    called = threading.Event()

    async def close(grace: float | None) -> None:
        called.set()
        raise RuntimeError("store gone")

    signals = ShutdownSignals(close, 1.0)
    restore = signals.install_in_main_thread(loop)
    try:
        os.kill(os.getpid(), signal.SIGINT)
        assert called.wait(timeout=30)
        asyncio.run_coroutine_threadsafe(signals.wait_closed(), loop).result(timeout=30)
    finally:
        restore()
    assert any("store gone" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")


def test_installing_off_the_main_thread_is_refused_with_the_fix(
    loop_thread: tuple[asyncio.AbstractEventLoop, threading.Thread],
) -> None:
    loop, _thread = loop_thread

    async def close(grace: float | None) -> None:
        pass

    errors: list[BaseException] = []

    def install() -> None:
        for how in (ShutdownSignals.install_in_main_thread, ShutdownSignals.install_on_loop):
            try:
                how(ShutdownSignals(close, 1.0), loop)
            except RuntimeError as error:
                errors.append(error)

    worker_thread = threading.Thread(target=install)
    worker_thread.start()
    worker_thread.join()
    assert len(errors) == 2
    assert all("main thread" in str(e) and "handle_signals=False" in str(e) for e in errors)
