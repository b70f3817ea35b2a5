"""Fixtures for the interop suite: real Node BullMQ (from npm) on the same Redis as corral.

* ``bullmq``: runs the scripts in ``tests/interop/node`` against the test's Redis.
  Needs ``node`` on PATH and ``node_modules/bullmq`` at the repository root
  (``npm ci``); without them the test skips locally and fails under CI.
* ``queue`` / ``make_worker``: corral's Queue and Workers on the same Redis.

Each script takes ``<redis-url> <queue> '<json command>'`` and prints line-delimited
JSON: an optional ``{"ready": true}`` once it listens, then ``{"ok": ..., "result"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from corral import Queue, Worker
from tests.conftest import service_missing
from tests.support import Workers

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent / "node"
BULLMQ_VERSION = "6.7.0"

WorkerFactory = Callable[..., Worker]


class NodeScriptError(AssertionError):
    """A Node script failed, timed out, or printed something that is not our protocol."""


@dataclass(frozen=True)
class NodeEnv:
    node: str
    root: Path


@pytest.fixture(scope="session")
def node_env() -> NodeEnv:
    node = shutil.which("node")
    if node is None:
        service_missing("node is not on PATH (install Node.js 20+, then run npm ci)")
        raise AssertionError("unreachable")
    manifest = REPO_ROOT / "node_modules" / "bullmq" / "package.json"
    if not manifest.is_file():
        service_missing("node_modules/bullmq is missing: run npm ci at the repository root")
        raise AssertionError("unreachable")
    version = json.loads(manifest.read_text())["version"]
    if version != BULLMQ_VERSION:
        service_missing(f"node_modules has bullmq {version}, not {BULLMQ_VERSION}: run npm ci")
    return NodeEnv(node, REPO_ROOT)


def _parse_lines(script: str, out: bytes, err: bytes, returncode: int | None) -> Any:
    final: dict[str, Any] | None = None
    for line in out.decode(errors="replace").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            message = json.loads(line)
        except ValueError:
            continue  # e.g. a library warning; the protocol lines are JSON
        if isinstance(message, dict) and "ok" in message:
            final = message
    stderr = err.decode(errors="replace").strip()
    if final is None:
        raise NodeScriptError(
            f"{script} gave no result (exit code {returncode})\nstdout: {out.decode(errors='replace')}"
            f"\nstderr: {stderr}"
        )
    if not final["ok"]:
        raise NodeScriptError(f"{script} failed: {final.get('error')}\n{final.get('stack')}")
    return final["result"]


@dataclass
class NodeProcess:
    """A long-running script (worker, event listener) started in the background."""

    script: str
    proc: asyncio.subprocess.Process
    timeout: float
    _stdout: bytearray = field(default_factory=bytearray)

    async def ready(self) -> None:
        """Wait until the script says it is listening."""
        assert self.proc.stdout is not None
        async with asyncio.timeout(self.timeout):
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    await self.proc.wait()
                    err = await self._stderr()
                    raise NodeScriptError(
                        f"{self.script} exited before it was ready: "
                        f"{(bytes(self._stdout) + line).decode(errors='replace')}\n{err.decode(errors='replace')}"
                    )
                self._stdout += line
                with contextlib.suppress(ValueError):
                    if json.loads(line).get("ready"):
                        return

    async def _stderr(self) -> bytes:
        assert self.proc.stderr is not None
        return await self.proc.stderr.read()

    async def result(self, *, stop: bool = False) -> Any:
        """The script's result; with ``stop`` ask it to finish now first."""
        assert self.proc.stdin is not None
        if stop and not self.proc.stdin.is_closing():
            with contextlib.suppress(ConnectionError):
                self.proc.stdin.write(b"stop\n")
                await self.proc.stdin.drain()
        try:
            async with asyncio.timeout(self.timeout):
                rest, err = await self.proc.communicate()
        except TimeoutError:
            self.kill()
            raise NodeScriptError(f"{self.script} did not finish within {self.timeout} s") from None
        return _parse_lines(self.script, bytes(self._stdout) + rest, err, self.proc.returncode)

    def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()


class NodeBullMQ:
    """Runs the interop scripts against one Redis."""

    def __init__(self, env: NodeEnv, redis_url: str) -> None:
        self.env = env
        self.redis_url = redis_url
        self.started: list[NodeProcess] = []

    async def _spawn(
        self, script: str, queue: str, command: dict[str, Any]
    ) -> asyncio.subprocess.Process:
        path = SCRIPTS / script
        return await asyncio.create_subprocess_exec(
            self.env.node,
            str(path),
            self.redis_url,
            queue,
            json.dumps(command),
            cwd=self.env.root,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )

    async def run(
        self, script: str, queue: str, command: dict[str, Any], *, timeout: float = 30
    ) -> Any:
        """Run a script to the end and return its result."""
        process = await self.start(script, queue, command, timeout=timeout, wait_ready=False)
        assert process.proc.stdin is not None
        process.proc.stdin.close()
        return await process.result()

    async def start(
        self,
        script: str,
        queue: str,
        command: dict[str, Any],
        *,
        timeout: float = 30,
        wait_ready: bool = True,
    ) -> NodeProcess:
        """Start a long-running script; by default wait until it is listening."""
        proc = await self._spawn(script, queue, command)
        process = NodeProcess(script, proc, timeout)
        self.started.append(process)
        if wait_ready:
            await process.ready()
        return process

    async def ops(self, queue: str, *steps: dict[str, Any], **extra: Any) -> list[Any]:
        """Run BullMQ operations in order (see ``node/ops.mjs``); one result per step."""
        result = await self.run("ops.mjs", queue, {"steps": list(steps), **extra})
        assert isinstance(result, list)
        return result

    async def ops_schedulers(self, queue: str, *steps: dict[str, Any]) -> list[Any]:
        """Run job scheduler operations (see ``node/schedulers.mjs``); one result per step."""
        result = await self.run("schedulers.mjs", queue, {"steps": list(steps)})
        assert isinstance(result, list)
        return result

    async def close(self) -> None:
        for process in self.started:
            if process.proc.returncode is None:
                process.kill()
                await process.proc.wait()


@pytest.fixture
async def bullmq(node_env: NodeEnv, redis_url: str) -> AsyncIterator[NodeBullMQ]:
    runner = NodeBullMQ(node_env, redis_url)
    try:
        yield runner
    finally:
        await runner.close()


@pytest.fixture
async def queue(redis_url: str, queue_name: str) -> AsyncIterator[Queue]:
    async with Queue(queue_name, url=redis_url) as q:
        yield q


@pytest.fixture
async def make_worker(redis_url: str) -> AsyncIterator[Callable[..., Worker]]:
    """``make_worker(queue_name, **options)``: corral Workers, all closed at the end."""
    async with contextlib.aclosing(Workers(redis_url)) as workers:
        yield workers.make
