"""The corral command line, run as users run it: in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import cli_worker, sigterm

CORRAL = [sys.executable, "-m", "corral"]


def run(
    *args: str, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CORRAL, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False
    )


def test_demo_runs_end_to_end_on_the_embedded_default(tmp_path: Path) -> None:
    result = run("demo", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "locked by another token" in out
    assert "rate limited" in out
    assert "stalled 1 time(s), then completed" in out
    assert "final counts: completed 10" in out
    assert not list(tmp_path.iterdir()), "the demo must not leave files behind"


def test_demo_runs_on_redis(redis_url: str) -> None:
    result = run("demo", "--url", redis_url, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "final counts: completed 10" in result.stdout


def test_add_status_jobs_and_actions(sqlite_url: str) -> None:
    store = ["--url", sqlite_url]
    added = run("add", "emails", "send", '{"to": "a@example.com"}', "--attempts", "2", *store)
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "1"
    assert run("add", "emails", "later", "{}", "--delay", "3600", *store).returncode == 0
    status = run("status", *store)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0].split()[:3] == ["queue", "waiting", "active"]
    assert lines[1].split()[:2] == ["emails", "1"]
    listing = run("jobs", "emails", "--state", "delayed", *store)
    assert "later" in listing.stdout
    assert "send" not in listing.stdout
    assert run("promote", "emails", "2", *store).stdout.strip() == "2: promoted"
    assert run("pause", "emails", *store).stdout.strip() == "emails: paused"
    assert "yes" in run("status", "--queue", "emails", *store).stdout
    assert run("resume", "emails", *store).returncode == 0
    removed = run("remove", "emails", "1", "404", *store)
    assert removed.returncode == 1
    assert "1: removed" in removed.stdout
    assert "404: no such job" in removed.stderr


def test_bad_input_is_one_clear_line(sqlite_url: str) -> None:
    bad_json = run("add", "q", "x", "{not json", "--url", sqlite_url)
    assert bad_json.returncode == 2
    assert "data must be JSON" in bad_json.stderr
    assert "Traceback" not in bad_json.stderr
    bad_priority = run("add", "q", "x", "{}", "--priority", "-4", "--url", sqlite_url)
    assert bad_priority.returncode == 1
    assert "priority must be between 0 and 2097151" in bad_priority.stderr
    bad_url = run("status", "--url", "ftp://nowhere")
    assert bad_url.returncode == 1
    assert "unsupported queue URL scheme 'ftp'" in bad_url.stderr


def test_worker_with_unimportable_function_says_why(sqlite_url: str, tmp_path: Path) -> None:
    missing = run("worker", "no_such_module:process", "-q", "q", "--url", sqlite_url, cwd=tmp_path)
    assert missing.returncode == 2
    assert "cannot import module 'no_such_module'" in missing.stderr
    shape = run("worker", "just_a_name", "-q", "q", "--url", sqlite_url, cwd=tmp_path)
    assert shape.returncode == 2
    assert "package.module:function" in shape.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_worker_processes_jobs_and_stops_gracefully_on_sigterm(
    sqlite_url: str, tmp_path: Path
) -> None:
    (tmp_path / "tasks.py").write_text(
        "import time\n"
        "def process(job):\n"
        "    if job.name == 'slow':\n"
        "        time.sleep(1.0)\n"
        "    return {'echo': job.data}\n"
    )
    store = ["--url", sqlite_url]
    for i in range(3):
        assert run("add", "work", "fast", f'{{"i": {i}}}', *store).returncode == 0
    with cli_worker(["tasks:process", "-q", "work", "-c", "2", *store], cwd=tmp_path) as proc:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if "completed: 3" in _counts(sqlite_url, "work"):
                break
            time.sleep(0.1)
        assert run("add", "work", "slow", "{}", *store).returncode == 0
        time.sleep(0.5)  # the slow job is running now
        out = sigterm(proc)
    assert proc.returncode == 0, out
    assert "job 1 (fast) completed" in out
    assert "SIGTERM received" in out
    counts = _counts(sqlite_url, "work")
    assert "completed: 4" in counts, (counts, out)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_worker_timeout_and_max_started_attempts_flags_fail_the_jobs_they_cap(
    sqlite_url: str, tmp_path: Path
) -> None:
    (tmp_path / "capped.py").write_text(
        "import asyncio\n"
        "from corral import RateLimitError\n"
        "async def process(job):\n"
        "    if job.name == 'bounce':\n"
        "        raise RateLimitError(retry_after=0.1)\n"
        "    await asyncio.sleep(60)\n"
    )
    store = ["--url", sqlite_url]
    assert run("add", "work", "bounce", "{}", *store).returncode == 0
    assert run("add", "work", "slow", "{}", *store).returncode == 0
    worker = ["capped:process", "-q", "work", "-c", "2", "--timeout", "0.5s",
              "--max-started-attempts", "1", *store]  # fmt: skip
    with cli_worker(worker, cwd=tmp_path) as proc:
        deadline = time.monotonic() + 30
        while "failed: 2" not in _counts(sqlite_url, "work"):
            assert time.monotonic() < deadline, "the jobs were not failed"
            time.sleep(0.1)
        out = sigterm(proc)
    assert proc.returncode == 0, out
    reasons = run("jobs", "work", "--state", "failed", *store).stdout
    assert "job started more than allowable limit" in reasons
    assert "timed out after 0.5 seconds" in reasons


def _counts(url: str, queue: str) -> str:
    code = (
        "import asyncio, corral\n"
        f"async def m():\n async with corral.Queue({queue!r}, url={url!r}) as q:\n"
        "  c = await q.get_job_counts()\n  print(', '.join(f'{k}: {v}' for k, v in c.items()))\n"
        "asyncio.run(m())\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    ).stdout


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_second_signal_stops_the_worker_at_once(sqlite_url: str, tmp_path: Path) -> None:
    (tmp_path / "stuck.py").write_text("import time\ndef process(job):\n    time.sleep(120)\n")
    store = ["--url", sqlite_url]
    assert run("add", "work", "stuck", "{}", *store).returncode == 0
    proc = subprocess.Popen(
        [*CORRAL, "worker", "stuck:process", "-q", "work", "--grace", "60", *store],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while "active: 1" not in _counts(sqlite_url, "work"):
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert proc.poll() is None, "the first signal must wait for the running job"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert "stopped at once" in out
    # The job was abandoned with its lock: it stays active until it stalls back.
    assert "active: 1" in _counts(sqlite_url, "work")
