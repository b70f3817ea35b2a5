"""Fixtures of the chaos suite: child processes that are always cleaned up, and a
report of what each test did (printed in pytest's summary).

The suite is sized to finish in about two minutes on a small machine. Set
``CORRAL_SOAK=1`` for the long runs (many more jobs and kills); without it they
are skipped. Every test here is marked ``chaos``: ``pytest -m "not chaos"`` leaves
them out.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import print_report, reported

ROOT = Path(__file__).resolve().parents[2]
SOAK = os.environ.get("CORRAL_SOAK") == "1"
soak_only = pytest.mark.skipif(not SOAK, reason="a long soak run: set CORRAL_SOAK=1 to run it")

_REPORT: list[str] = []


class Agent:
    """One child process: a chaos agent or a ``corral worker``, logging to a file."""

    def __init__(self, kind: str, args: list[str], log: Path, env: dict[str, str]) -> None:
        self.kind = kind
        self.args = args
        self.log = log
        self._log_file = log.open("ab")
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._log_file, stderr=subprocess.STDOUT
        )
        self.pid = self.proc.pid
        self.killed = False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        if self.alive():
            self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL, and reap the process."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.killed = True
        self.proc.wait()
        self._log_file.close()

    def handles_sigterm(self) -> bool:
        """Whether the process has installed its SIGTERM handler (Linux: SigCgt)."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return True  # gone, or no /proc: nothing to wait for
        for line in status.splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
        return True

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM (a graceful stop), then SIGKILL if it does not end in time.

        A process that is still starting up would die of the SIGTERM before it
        could handle it, so wait (up to ``timeout``) until it handles SIGTERM."""
        deadline = time.monotonic() + timeout
        while self.alive() and not self.handles_sigterm() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.wait()
        self._log_file.close()
        return code

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Agents:
    """Starts agents for a test; every one still running is killed at its end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.records = workdir / "records"
        self.records.mkdir(parents=True, exist_ok=True)
        self.started: list[Agent] = []

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["CORRAL_CHAOS_DIR"] = str(self.records)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        env.pop("CORRAL_URL", None)
        return env

    def _log(self, kind: str) -> Path:
        return self.workdir / f"{kind}-{len(self.started)}.out"

    def spawn(self, role: str, **cfg: Any) -> Agent:
        """``python -m tests.chaos.agent ROLE CFG`` (roles: worker, manual, holder, producer)."""
        cfg["dir"] = str(self.records)
        args = [sys.executable, "-m", "tests.chaos.agent", role, json.dumps(cfg)]
        agent = Agent(role, args, self._log(role), self._env())
        self.started.append(agent)
        return agent

    def spawn_cli_worker(
        self,
        url: str,
        queue: str,
        *,
        concurrency: int = 4,
        lock: float = 4,
        stalled: float = 1,
        max_stalled: int = 1000,
    ) -> Agent:
        """The real command line: ``corral worker tests.chaos.agent:process``."""
        args = [
            sys.executable, "-m", "corral", "worker", "tests.chaos.agent:process",
            "--url", url, "--queue", queue, "--concurrency", str(concurrency),
            "--lock-duration", str(lock), "--stalled-interval", str(stalled),
            "--max-stalled-count", str(max_stalled), "--grace", "10",
            "--log-level", "WARNING",
        ]  # fmt: skip
        agent = Agent("cli", args, self._log("cli"), self._env())
        self.started.append(agent)
        return agent

    def restart(self, agent: Agent) -> Agent:
        """A new process doing what ``agent`` did."""
        again = Agent(agent.kind, agent.args, self._log(agent.kind), self._env())
        self.started.append(again)
        return again

    def cleanup(self) -> None:
        for agent in self.started:
            if agent.alive():
                agent.proc.send_signal(signal.SIGKILL)
            agent.proc.wait()
            agent._log_file.close()


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[Agents]:
    made = Agents(tmp_path)
    try:
        yield made
    finally:
        made.cleanup()


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Lines a test appends here are printed (``-s``) and shown in pytest's summary."""
    yield from reported(request, "chaos", _REPORT)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "chaos: kills, restarts and pauses real processes (deselect: -m 'not chaos')"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.chaos)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    print_report(terminalreporter, "chaos report", _REPORT)
