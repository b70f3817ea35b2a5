"""``corral worker --processes N`` run as users run it: Ctrl-C reaches the whole
process group, a second signal stops at once, and no child outlives a worker
killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_cli import CORRAL, _counts, run

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="POSIX signals and /proc")

TASKS = (
    "import os, time\n"
    "from corral.sync import Job\n"
    "def process(job):\n"
    "    Job(job).update_progress({'pid': os.getpid()})\n"
    "    time.sleep(job.data['s'])\n"
    "    return os.getpid()\n"
)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _pids(url: str, queue: str, n: int, proc: subprocess.Popen[str]) -> list[int]:
    """The child pids the running jobs reported as their progress."""
    code = (
        "import asyncio, json, corral\n"
        f"async def m():\n async with corral.Queue({queue!r}, url={url!r}) as q:\n"
        "  jobs = await q.get_jobs('active')\n"
        "  print(json.dumps([j.progress for j in jobs]))\n"
        "asyncio.run(m())\n"
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
        ).stdout
        pids = [p["pid"] for p in json.loads(out) if isinstance(p, dict)]
        if len(pids) >= n:
            return pids
        time.sleep(0.1)
    raise AssertionError("the jobs never started in children")


def _start(tmp_path: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    (tmp_path / "tasks.py").write_text(TASKS)
    return subprocess.Popen(
        [*CORRAL, "worker", "tasks:process", "-q", "work", "--url", url, "-p", "2", *extra],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,
    )  # fmt: skip


def _gone(pids: list[int], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(_alive(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


def test_no_child_outlives_a_worker_killed_with_sigkill(sqlite_url: str, tmp_path: Path) -> None:
    for _ in range(2):
        assert run("add", "work", "long", '{"s": 120}', "--url", sqlite_url).returncode == 0
    proc = _start(tmp_path, sqlite_url)
    try:
        pids = _pids(sqlite_url, "work", 2, proc)
        assert proc.pid not in pids
        proc.kill()
        proc.wait(timeout=10)
        assert _gone(pids), "a child process outlived its worker"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_ctrl_c_lets_children_finish_then_the_worker_exits(sqlite_url: str, tmp_path: Path) -> None:
    for _ in range(2):
        assert run("add", "work", "short", '{"s": 4}', "--url", sqlite_url).returncode == 0
    proc = _start(tmp_path, sqlite_url)
    try:
        pids = _pids(sqlite_url, "work", 2, proc)
        # Ctrl-C in a terminal: SIGINT to the whole process group, children included.
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "2 child processes" in out
    assert "completed: 2" in _counts(sqlite_url, "work"), out
    assert _gone(pids)


def test_a_second_signal_kills_the_children_and_returns_their_jobs(
    sqlite_url: str, tmp_path: Path
) -> None:
    for _ in range(2):
        assert run("add", "work", "long", '{"s": 120}', "--url", sqlite_url).returncode == 0
    proc = _start(tmp_path, sqlite_url, "--grace", "60")
    try:
        pids = _pids(sqlite_url, "work", 2, proc)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert proc.poll() is None, "the first signal must wait for the running jobs"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _gone(pids)
    # Unlike a worker whose jobs run in threads, the jobs are back in wait at once.
    assert "waiting: 2" in _counts(sqlite_url, "work"), out
    assert "active: 0" in _counts(sqlite_url, "work"), out


def test_max_memory_per_child_takes_a_size(sqlite_url: str, tmp_path: Path) -> None:
    (tmp_path / "tasks.py").write_text(TASKS)
    bad = run(
        "worker", "tasks:process", "-q", "w", "--url", sqlite_url, "-p", "1",
        "--max-memory-per-child", "lots", cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode != 0
    assert "not a size: 'lots'" in bad.stderr
