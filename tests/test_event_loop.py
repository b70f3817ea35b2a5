"""The event loop corral's own entry points run on: ``auto`` takes uvloop when it is
installed, ``--loop`` / ``CORRAL_EVENT_LOOP`` choose; a bad choice is one clear error."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from corral import Queue, _event_loop
from corral.errors import ConfigurationError
from tests.conftest import require_uvloop
from tests.support import cli_worker, sigterm

CORRAL = [sys.executable, "-m", "corral"]


def test_auto_takes_uvloop_when_installed_and_asyncio_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_uvloop()
    monkeypatch.delenv(_event_loop.ENV, raising=False)
    assert _event_loop.resolve() == "uvloop"
    assert _event_loop.resolve("asyncio") == "asyncio"
    monkeypatch.setenv(_event_loop.ENV, "asyncio")
    assert _event_loop.resolve() == "asyncio"
    assert _event_loop.resolve("uvloop") == "uvloop"  # the argument wins over the variable
    monkeypatch.setitem(sys.modules, "uvloop", None)  # not importable
    monkeypatch.delenv(_event_loop.ENV)
    assert _event_loop.resolve() == "asyncio"
    assert _event_loop.loop_factory() is asyncio.new_event_loop


def test_a_loop_that_cannot_be_had_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_event_loop.ENV, "trio")
    with pytest.raises(ConfigurationError) as info:
        _event_loop.resolve()
    assert str(info.value) == (
        "CORRAL_EVENT_LOOP='trio': unknown event loop; use one of auto, asyncio, uvloop"
    )
    monkeypatch.setitem(sys.modules, "uvloop", None)
    with pytest.raises(ConfigurationError, match=r"uvloop is not installed.*corral\[uvloop\]"):
        _event_loop.resolve("uvloop")

    async def never() -> None:
        raise AssertionError("not started")

    with pytest.raises(ConfigurationError):
        _event_loop.run(never(), "uvloop")  # and no "never awaited" warning: it is closed


def test_the_sync_facade_runs_on_the_chosen_loop() -> None:
    require_uvloop()
    code = "import corral.sync, corral._portal as p\nprint(type(p.get_portal().loop).__module__)\n"
    for choice, module in (("auto", "uvloop"), ("asyncio", "asyncio")):
        env = {**os.environ, _event_loop.ENV: choice}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        ).stdout
        assert out.strip().startswith(module), (choice, out)


def _stored(url: str, queue: str, job_id: str) -> object:
    async def read() -> object:
        async with Queue(queue, url=url) as q:
            job = await q.get_job(job_id)
            return None if job is None else job.return_value

    return asyncio.run(read())


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(
    ("flags", "runs_on"),
    [
        (["--loop", "uvloop"], "uvloop"),
        (["--loop", "asyncio"], "asyncio"),
        ([], "uvloop"),  # auto
        (["--loop", "uvloop", "--processes", "1"], "uvloop"),  # the child's loop too
    ],
    ids=["uvloop", "asyncio", "auto", "uvloop-child"],
)
@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_a_cli_worker_runs_jobs_on_the_loop_it_is_given(
    store: str,
    flags: list[str],
    runs_on: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    queue_name: str,
) -> None:
    require_uvloop()
    url = str(request.getfixturevalue(f"{store}_url"))
    (tmp_path / "tasks.py").write_text(
        "import asyncio\n"
        "async def process(job):\n"
        "    await asyncio.sleep(0)\n"
        "    return type(asyncio.get_running_loop()).__module__.split('.')[0]\n"
    )

    async def add() -> list[str]:
        async with Queue(queue_name, url=url) as q:
            return [(await q.add("probe", {"i": i})).id for i in range(3)]

    ids = asyncio.run(add())
    env = {k: v for k, v in os.environ.items() if k != _event_loop.ENV}
    worker = ["tasks:process", "-q", queue_name, "--url", url, *flags]
    with cli_worker(worker, cwd=tmp_path, env=env) as proc:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _stored(url, queue_name, ids[-1]) is None:
            time.sleep(0.1)
        out = sigterm(proc)
    assert proc.returncode == 0, out
    assert [_stored(url, queue_name, job_id) for job_id in ids] == [runs_on] * 3, out


def test_an_unknown_loop_in_the_environment_stops_the_cli_with_one_line(
    sqlite_url: str,
) -> None:
    env = {**os.environ, _event_loop.ENV: "tokio"}
    result = subprocess.run(
        [*CORRAL, "status", "--url", sqlite_url], capture_output=True, text=True, env=env
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "corral status: error: CORRAL_EVENT_LOOP='tokio': unknown event loop; "
        "use one of auto, asyncio, uvloop"
    )
