"""The benchmark harness: starts a private ``redis-server``, runs every contender's
driver in its own processes, round by round, and prints the tables.

Each measurement is a *case*: one workload for one contender in one round, on a
flushed Redis (or a fresh SQLite file). Within a round the contenders take turns
in an order rotated every round, so drift of the (shared) machine hits all alike;
the tables report medians over the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import queue as thread_queue
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.peers import proto

REPO_ROOT = Path(__file__).resolve().parents[1]
NODE_DRIVER = REPO_ROOT / "bench" / "node" / "driver.mjs"
NODE_BULLMQ_VERSION = "6.7.0"
BASELINE = "node"
FIRST_COLUMN = 24
"""Width of the tables' first column, the workload's label."""


# -- what is measured -------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    key: str
    label: str
    kind: str  # add-one | add-bulk | work | manual | latency
    n: int
    quick_n: int
    concurrency: int = 1


WORKLOADS: tuple[Workload, ...] = (
    Workload("add-one", "add, one at a time", "add-one", 2000, 100),
    Workload("add-bulk", "add in bulk (500/call)", "add-bulk", 20000, 1000),
    Workload("c1", "process, concurrency 1", "work", 3000, 150, 1),
    Workload("c16", "process, concurrency 16", "work", 6000, 300, 16),
    Workload("c16-long", "process, c16, long run", "work", 20000, 600, 16),
    Workload("manual", "hand-driven loop", "manual", 3000, 150),
    Workload("latency", "add→start latency (ms)", "latency", 100, 10),
)
WORKLOAD_KEYS = tuple(w.key for w in WORKLOADS)


@dataclass(frozen=True)
class Contender:
    key: str
    label: str
    backend: str  # redis | sqlite
    module: str | None  # the Python driver; None for Node
    packages: tuple[str, ...] = ()  # distributions whose version is reported
    imports: tuple[str, ...] = ()  # modules that must be importable
    not_applicable: dict[str, str] = field(default_factory=dict)


NO_MANUAL = "no hand-driven fetch API"
CONTENDERS: tuple[Contender, ...] = (
    Contender("corral-redis", "corral/Redis", "redis", "bench.peers.corral_peer", ("corral",)),
    Contender("corral-sqlite", "corral/SQLite", "sqlite", "bench.peers.corral_peer", ("corral",)),
    Contender("node", "Node BullMQ", "redis", None),
    Contender(
        "bullmq-py", "bullmq (Py)", "redis", "bench.peers.bullmq_peer", ("bullmq",), ("bullmq",)
    ),
    Contender(
        "arq",
        "arq",
        "redis",
        "bench.peers.arq_peer",
        ("arq",),
        ("arq",),
        {"add-bulk": "arq has no bulk add", "manual": NO_MANUAL},
    ),
    Contender(
        "rq",
        "RQ",
        "redis",
        "bench.peers.rq_peer",
        ("rq",),
        ("rq",),
        {"c16": "RQ runs one job at a time per worker process", "manual": NO_MANUAL},
    ),
    Contender(
        "saq",
        "SAQ",
        "redis",
        "bench.peers.saq_peer",
        ("saq",),
        ("saq",),
        {"add-bulk": "SAQ has no bulk add (map waits for results)", "manual": NO_MANUAL},
    ),
)
CONTENDER_KEYS = tuple(c.key for c in CONTENDERS)


def unavailable(contender: Contender) -> str | None:
    """Why a contender cannot run here, or None."""
    if contender.module is None:
        if shutil.which("node") is None:
            return "node is not on PATH"
        manifest = REPO_ROOT / "node_modules" / "bullmq" / "package.json"
        if not manifest.is_file():
            return "node_modules/bullmq is missing (run npm ci)"
        version = json.loads(manifest.read_text())["version"]
        if version != NODE_BULLMQ_VERSION:
            return f"node_modules has bullmq {version}, not {NODE_BULLMQ_VERSION} (run npm ci)"
        return None
    for module in contender.imports:
        if find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[bench]')"
    return None


def version_of(contender: Contender) -> str:
    if contender.module is None:
        return f"bullmq {NODE_BULLMQ_VERSION} (Node {node_version()})"
    parts = []
    for package in contender.packages:
        try:
            parts.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{package} (not installed)")
    return ", ".join(parts)


def node_version() -> str:
    try:
        out = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out.stdout.strip()


# -- a private redis-server ------------------------------------------------------------------


def free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port != 6379:  # the machine's own Redis
            return port


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A ``redis-server`` of our own on a free loopback port, without persistence."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("redis-server is not on PATH (apt-get install -y redis-server)")
    port = free_port()
    args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--dir", str(workdir), "--protected-mode", "yes", "--loglevel", "warning"]
    log = (workdir / "redis.log").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"redis-server exited with code {proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"redis-server did not listen on {port}") from None
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


# -- driver processes ------------------------------------------------------------------------


class DriverError(Exception):
    """A driver failed, timed out or skipped the mode."""


class Driver:
    """One driver process; reads its protocol lines on a thread."""

    def __init__(self, contender: Contender, spec: dict[str, Any], workdir: Path) -> None:
        self.label = f"{contender.key} {spec['mode']}"
        if contender.module is None:
            cmd = ["node", str(NODE_DRIVER), json.dumps(spec)]
        else:
            cmd = [sys.executable, "-m", contender.module, json.dumps(spec)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        env.pop("CORRAL_URL", None)
        self.stderr = tempfile.TemporaryFile(dir=workdir)  # noqa: SIM115 - closed by close()
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self.lines: thread_queue.Queue[str | None] = thread_queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def next_message(self, deadline: float) -> dict[str, Any]:
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except thread_queue.Empty:
                self.kill()
                raise DriverError(f"{self.label}: timed out") from None
            if line is None:
                self.proc.wait()
                raise DriverError(f"{self.label}: exited ({self.proc.returncode}): {self.tail()}")
            try:
                message = json.loads(line)
            except ValueError:
                continue  # a library printing on stdout
            if isinstance(message, dict):
                if "skipped" in message:
                    raise DriverError(f"skipped: {message['skipped']}")
                return message

    def wait_ready(self, timeout: float) -> None:
        self.next_message(time.monotonic() + timeout)

    def result(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            message = self.next_message(deadline)
            if "result" in message:
                try:
                    self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.kill()
                result: dict[str, Any] = message["result"]
                return result

    def tail(self) -> str:
        self.stderr.seek(0)
        lines = [ln for ln in self.stderr.read().decode(errors="replace").splitlines() if ln]
        return lines[-1].strip() if lines else "no error output"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        self.kill()
        self.stderr.close()


def run_driver(contender: Contender, spec: dict[str, Any], workdir: Path, timeout: float) -> Any:
    driver = Driver(contender, spec, workdir)
    try:
        return driver.result(timeout)
    finally:
        driver.close()


# -- cases -------------------------------------------------------------------------------------


@dataclass
class Settings:
    rounds: int
    quick: bool
    scale: float
    batch: int = 500
    gap_ms: float = 15.0

    def n(self, workload: Workload) -> int:
        base = workload.quick_n if self.quick else workload.n
        return max(1, round(base * self.scale))

    def timeout(self, n: int) -> float:
        return 60.0 + n / 50.0


@dataclass
class Store:
    """Where one case's jobs live: the shared Redis (flushed) or a fresh SQLite file."""

    redis_url: str | None
    workdir: Path
    counter: int = 0

    def fresh(self, contender: Contender) -> str:
        self.counter += 1
        if contender.backend == "sqlite":
            for old in self.workdir.glob("case-*.db*"):
                old.unlink()
            return f"sqlite:///{self.workdir}/case-{self.counter}.db"
        if self.redis_url is None:
            raise DriverError("skipped: no redis-server")
        flushall(self.redis_url)
        return self.redis_url


def redis_call(url: str, *args: str) -> str:
    """One command on our own redis-server, for a status or bulk-string reply (a bare
    RESP call: the harness needs no Redis client library of its own)."""
    parts = urlsplit(url)
    request = b"*%d\r\n" % len(args) + b"".join(
        b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args
    )
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 10) as s:
        s.sendall(request)
        reply = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
            head, sep, rest = reply.partition(b"\r\n")
            if not sep:
                continue
            if head[:1] != b"$":
                break
            if len(rest) >= int(head[1:]) + 2:
                return rest[: int(head[1:])].decode()
    head = reply.partition(b"\r\n")[0]
    if head[:1] != b"+":
        raise DriverError(f"redis {args[0]} failed: {reply!r}")
    return head[1:].decode()


def flushall(url: str) -> None:
    """``FLUSHALL`` on our own redis-server."""
    redis_call(url, "FLUSHALL")


@dataclass(frozen=True)
class RedisStats:
    """What the server spent: µs inside scripts (``INFO commandstats``: EVALSHA and
    EVAL, the commands they run included) and its own CPU seconds (``INFO cpu``)."""

    script_us: float
    cpu_s: float

    @classmethod
    def read(cls, url: str) -> RedisStats:
        script_us = 0.0
        for line in redis_call(url, "INFO", "commandstats").splitlines():
            name, _, fields = line.partition(":")
            if name in ("cmdstat_evalsha", "cmdstat_eval", "cmdstat_evalsha_ro"):
                values = dict(f.split("=", 1) for f in fields.split(","))
                script_us += float(values["usec"])
        cpu_s = 0.0
        for line in redis_call(url, "INFO", "cpu").splitlines():
            name, _, value = line.partition(":")
            if name.strip() in ("used_cpu_user", "used_cpu_sys"):
                cpu_s += float(value)
        return cls(script_us, cpu_s)


def run_case(
    contender: Contender, workload: Workload, settings: Settings, store: Store, round_no: int
) -> dict[str, Any]:
    """One measurement; returns {"rate"| "latencies", "rss_kb"}."""
    n = settings.n(workload)
    url = store.fresh(contender)
    base = {"url": url, "queue": f"bench-{workload.key}-{round_no}", "batch": settings.batch}
    timeout = settings.timeout(n)
    workdir = store.workdir
    if workload.kind in ("add-one", "add-bulk"):
        result = run_driver(contender, {**base, "mode": workload.kind, "n": n}, workdir, timeout)
        return {"rate": n / result["elapsed"], "rss_kb": result["rss_kb"]}
    if workload.kind in ("work", "manual"):
        run_driver(contender, {**base, "mode": "fill", "n": n}, workdir, timeout)
        spec = {**base, "mode": workload.kind, "n": n, "concurrency": workload.concurrency}
        on_redis = contender.backend == "redis"
        if on_redis:
            redis_call(url, "CONFIG", "RESETSTAT")
            before = RedisStats.read(url)
        result = run_driver(contender, spec, workdir, timeout)
        run = {"rate": n / result["elapsed"], "rss_kb": result["rss_kb"]}
        if "event_loop" in result:
            run["event_loop"] = result["event_loop"]
        if "cpu_s" in result:
            run["cpu_us"] = result["cpu_s"] / n * 1e6
        if on_redis:
            after = RedisStats.read(url)
            run["redis_us"] = (after.script_us - before.script_us) / n
            run["redis_cpu_us"] = (after.cpu_s - before.cpu_s) / n * 1e6
        return run
    # latency: an idle worker, then a producer that adds one job every gap_ms
    spec = {**base, "n": n, "gap_ms": settings.gap_ms}
    worker = Driver(contender, {**spec, "mode": "latency-worker"}, workdir)
    try:
        worker.wait_ready(timeout)
        run_driver(contender, {**spec, "mode": "latency-producer"}, workdir, timeout)
        result = worker.result(timeout)
    finally:
        worker.close()
    return {"latencies": result["latencies"], "rss_kb": result["rss_kb"]}


@dataclass
class Cell:
    runs: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None  # "skipped: …" or "failed: …"

    def rate(self) -> float | None:
        rates = [r["rate"] for r in self.runs if "rate" in r]
        return statistics.median(rates) if rates else None

    def latencies(self) -> list[float]:
        return sorted(x for r in self.runs for x in r.get("latencies", ()))

    def median_of(self, key: str) -> float | None:
        values = [r[key] for r in self.runs if key in r]
        return statistics.median(values) if values else None

    def rss_mb(self) -> float | None:
        values = [r["rss_kb"] for r in self.runs if r.get("rss_kb")]
        return max(values) / 1024 if values else None


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, min(len(sorted_values), round(p / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def run_comparison(
    contenders: Sequence[Contender],
    workloads: Sequence[Workload],
    settings: Settings,
    store: Store,
) -> dict[tuple[str, str], Cell]:
    cells = {(c.key, w.key): Cell() for c in contenders for w in workloads}
    runnable: list[Contender] = []
    for contender in contenders:
        reason = unavailable(contender)
        for workload in workloads:
            cell = cells[contender.key, workload.key]
            if reason is not None:
                cell.problem = f"skipped: {reason}"
            elif workload.key in contender.not_applicable:
                cell.problem = f"n/a: {contender.not_applicable[workload.key]}"
        if reason is None:
            runnable.append(contender)
    for round_no in range(settings.rounds):
        shift = round_no % max(1, len(runnable))
        order = runnable[shift:] + runnable[:shift]
        for workload in workloads:
            for contender in order:
                cell = cells[contender.key, workload.key]
                if cell.problem is not None:
                    continue
                try:
                    run = run_case(contender, workload, settings, store, round_no)
                except DriverError as error:
                    text = str(error)
                    cell.problem = text if text.startswith("skipped:") else f"failed: {text}"
                    progress(f"round {round_no + 1}: {workload.key} {contender.key}: {text}")
                    continue
                cell.runs.append(run)
                progress(
                    f"round {round_no + 1}/{settings.rounds}: {describe(workload, run)}"
                    f"  {workload.key} {contender.key}"
                )
    return cells


def describe(workload: Workload, run: dict[str, Any]) -> str:
    if "rate" in run:
        text = f"{run['rate']:>10,.0f} jobs/s"
        for key, unit in (("redis_us", "redis µs/job"), ("cpu_us", "worker cpu µs/job")):
            if key in run:
                text += f"  {run[key]:5.1f} {unit}"
        return text
    values = sorted(run["latencies"])
    return f"p50 {percentile(values, 50):6.1f} ms"


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- tables -----------------------------------------------------------------------------------


def render_tables(
    contenders: Sequence[Contender],
    workloads: Sequence[Workload],
    cells: dict[tuple[str, str], Cell],
    settings: Settings,
) -> str:
    first = FIRST_COLUMN
    width = max(18, *(len(c.label) + 2 for c in contenders))
    head = "workload".ljust(first) + "".join(c.label.rjust(width) for c in contenders)
    notes: dict[str, int] = {}

    def note(text: str) -> str:
        number = notes.setdefault(text, len(notes) + 1)
        kind = text.split(":", 1)[0]
        return f"{kind} [{number}]"

    lines = [
        f"Throughput: median jobs/s over {settings.rounds} round(s) and, in brackets, "
        "the ratio to Node BullMQ (higher is better).",
        "Latency: p50 / p99 ms over all rounds' jobs (bracket: p50 ratio to Node, lower is better).",
        "",
        head,
        "-" * len(head),
    ]
    for workload in workloads:
        row = workload.label.ljust(first)
        base = cells.get((BASELINE, workload.key))
        for contender in contenders:
            cell = cells[contender.key, workload.key]
            if cell.problem is not None and not cell.runs:
                row += note(cell.problem).rjust(width)
            elif workload.kind == "latency":
                values = cell.latencies()
                text = f"{percentile(values, 50):.1f}/{percentile(values, 99):.1f}"
                base_values = base.latencies() if base is not None else []
                if base_values and contender.key != BASELINE:
                    text += f" ({percentile(values, 50) / percentile(base_values, 50):.1f}x)"
                row += text.rjust(width)
            else:
                rate = cell.rate()
                assert rate is not None
                text = f"{rate:,.0f}"
                base_rate = base.rate() if base is not None else None
                if base_rate and contender.key != BASELINE:
                    text += f" ({rate / base_rate:.2f}x)"
                row += text.rjust(width)
        lines.append(row)
    costed = [w for w in workloads if w.kind in ("work", "manual")]
    if costed:
        lines += [
            "",
            "Cost per processed job (medians, µs): Redis time in scripts (INFO commandstats)"
            " / Redis CPU (INFO cpu) / the worker process's CPU (user + system):",
            "",
            head,
            "-" * len(head),
        ]
    for workload in costed:
        row = workload.label.ljust(first)
        for contender in contenders:
            cell = cells[contender.key, workload.key]
            parts = [cell.median_of(k) for k in ("redis_us", "redis_cpu_us", "cpu_us")]
            text = " / ".join("-" if v is None else f"{v:.0f}" for v in parts)
            row += ("-" if all(v is None for v in parts) else text).rjust(width)
        lines.append(row)
    lines += ["", "Peak RSS of the measured process (MB, VmHWM, highest over the rounds):", ""]
    lines += [head, "-" * len(head)]
    for workload in workloads:
        row = workload.label.ljust(first)
        for contender in contenders:
            rss = cells[contender.key, workload.key].rss_mb()
            row += ("-" if rss is None else f"{rss:.1f}").rjust(width)
        lines.append(row)
    lines.append("(adds: the producer process; processing and latency: the worker process)")
    failures = [
        f"{c.key} {w.key}: {cells[c.key, w.key].problem}"
        for c in contenders
        for w in workloads
        if cells[c.key, w.key].problem and cells[c.key, w.key].runs
    ]
    if notes or failures:
        lines.append("")
    for text, number in notes.items():
        lines.append(f"[{number}] {text}")
    for text in failures:
        lines.append(f"partly failed: {text}")
    return "\n".join(lines)


# -- corral-only measurements --------------------------------------------------------------------


METRICS_PHASE_LABELS = {
    "none": "none", "bullmq": "BullMQ metrics", "prometheus": "Prometheus", "both": "both",
}  # fmt: skip
"""The driver's case names (``corral_peer.METRICS_KINDS``) as the tables show them."""


def run_metrics_phases(
    contenders: Sequence[Contender], rounds: int, store: Store, settings: Settings
) -> str:
    """c16 with and without metrics inside one worker process: the worker runs
    ``rounds`` rounds of four phases (none, each kind, both; the order turning each
    round) and changes only what it records between them, so the comparison is
    free of what differs from one process to the next (memory layout, start-up).
    Medians over the rounds of each phase's jobs/s, worker CPU and Redis CPU."""
    c16 = next(w for w in WORKLOADS if w.key == "c16")
    n = settings.n(c16)
    lines = [
        f"The same, inside one worker process ({rounds} rounds of 4 phases of {n:,} jobs, "
        "medians; only what the worker records changes between phases):",
        "",
        f"{'backend':<16}{'recording':<16}{'jobs/s':>9}{'lost':>8}{'worker CPU µs/job':>19}"
        f"{'added':>8}{'Redis CPU µs/job':>18}{'added':>8}{'total µs/job':>14}{'added':>8}",
    ]
    for contender in corral_contenders(contenders):
        url = store.fresh(contender)
        base = {"url": url, "queue": "bench-metrics-phases", "batch": settings.batch}
        progress(f"metrics cost in one process: {contender.key}")
        run_driver(contender, {**base, "mode": "fill", "n": n * 4 * rounds}, store.workdir, 300)
        spec = {**base, "mode": "metrics-phases", "n": n, "cycles": rounds}
        result = run_driver(contender, spec, store.workdir, settings.timeout(n * 4 * rounds))
        for kind, counted in result["counted"].items():
            # Each phase's own jobs, give or take the 16 in flight when it switched.
            expected = n * sum(p["kind"] in (kind, "both") for p in result["phases"])
            if abs(counted - expected) > 16 * 4 * rounds:
                raise DriverError(
                    f"{contender.key}: {kind} counted {counted:,.0f} jobs, its phases ran "
                    f"{expected:,}: the phases did not switch what is recorded"
                )
        by_kind: dict[str, list[dict[str, float]]] = {}
        for phase in result["phases"]:
            phase["total_us"] = phase["cpu_us"] + phase.get("redis_us", 0.0)
            by_kind.setdefault(phase["kind"], []).append(phase)

        def median(
            kind: str, key: str, by_kind: dict[str, list[dict[str, float]]] = by_kind
        ) -> float:
            return statistics.median(p.get(key, 0.0) for p in by_kind[kind])

        for kind, label in METRICS_PHASE_LABELS.items():
            rate, base_rate = median(kind, "rate"), median("none", "rate")
            cells = [f"{contender.label:<16}{label:<16}{rate:>9,.0f}{1 - rate / base_rate:>8.1%}"]
            for key, width in (("cpu_us", 19), ("redis_us", 18), ("total_us", 14)):
                if key == "redis_us" and contender.backend != "redis":
                    cells.append(f"{'-':>{width}}{'':>8}")
                    continue
                value, base_value = median(kind, key), median("none", key)
                cells.append(f"{value:>{width}.1f}{value / base_value - 1:>8.1%}")
            lines.append("".join(cells))
    return "\n".join(lines)


def corral_contenders(contenders: Sequence[Contender]) -> list[Contender]:
    return [c for c in contenders if c.key in ("corral-sqlite", "corral-redis")]


def run_fetch_cost(contenders: Sequence[Contender], big: int, store: Store, quick: bool) -> str:
    """Fetch cost with 1k vs ``big`` waiting jobs, on each corral backend."""
    calls = 100 if quick else 500
    lines = [
        f"Fetch cost with 1k vs {big:,} waiting jobs (corral; median of 3 cycles of {calls} calls):",
        "",
        f"{'backend':<16}{'waiting':>12}{'get_next_job µs':>18}{'complete+fetch µs':>20}",
    ]
    for contender in corral_contenders(contenders):
        rows = []
        for waiting in (1000, big):
            url = store.fresh(contender)
            spec = {
                "mode": "fetch-cost",
                "url": url,
                "queue": "bench-fetch-cost",
                "n": calls,
                "waiting": waiting,
                "batch": 10000,
                "cycles": 3,
            }
            progress(f"fetch cost: {contender.key}, filling {waiting:,} jobs…")
            try:
                result = run_driver(contender, spec, store.workdir, 120 + waiting / 2000)
            except DriverError as error:
                lines.append(f"{contender.label:<16}{waiting:>12,}  failed: {error}")
                continue
            rows.append(result)
            lines.append(
                f"{contender.label:<16}{waiting:>12,}{result['fetch_us']:>18.0f}"
                f"{result['loop_us']:>20.0f}"
            )
        if len(rows) == 2:
            lines.append(
                f"{'':<16}{'big / 1k':>12}{rows[1]['fetch_us'] / rows[0]['fetch_us']:>17.2f}x"
                f"{rows[1]['loop_us'] / rows[0]['loop_us']:>19.2f}x"
            )
    return "\n".join(lines)


METRICS_CASES: tuple[tuple[str, bool | str], ...] = (
    ("none", False),
    ("BullMQ metrics", "bullmq"),
    ("Prometheus", "prometheus"),
    ("both", "both"),
)
"""The cases of the metrics cost: what the c16 worker records (the driver's ``metrics``)."""


def run_metrics_cost(
    contenders: Sequence[Contender], rounds: int, store: Store, settings: Settings
) -> str:
    """c16's throughput and CPU per job without metrics, with each kind and with both,
    on each corral backend: ``rounds`` rounds of every case, the order of the cases
    turning each round. CPU per job is the robust number on a loaded machine: the
    worker's, and on Redis the server's (what a 2-core machine shares between them)."""
    c16 = next(w for w in WORKLOADS if w.key == "c16")
    n = settings.n(c16)
    lines = [
        f"Cost of recording metrics on c16 (corral; {n:,} jobs, median of {rounds} rounds; "
        "BullMQ metrics: Worker(metrics=MetricsTime.ONE_WEEK); Prometheus: "
        "corral.prometheus.WorkerMetrics):",
        "",
        f"{'backend':<16}{'recording':<16}{'jobs/s':>9}{'lost':>8}{'worker CPU µs/job':>19}"
        f"{'added':>8}{'Redis CPU µs/job':>18}{'added':>8}{'total µs/job':>14}{'added':>8}",
    ]
    for contender in corral_contenders(contenders):
        on_redis = contender.backend == "redis"
        runs: dict[str, list[dict[str, float]]] = {label: [] for label, _ in METRICS_CASES}
        for round_no in range(rounds):
            turn = round_no % len(METRICS_CASES)
            for label, metrics in METRICS_CASES[turn:] + METRICS_CASES[:turn]:
                url = store.fresh(contender)
                base = {"url": url, "queue": f"bench-metrics-{round_no}", "batch": settings.batch}
                progress(f"metrics cost: {contender.key}, round {round_no + 1}, {label}")
                run_driver(contender, {**base, "mode": "fill", "n": n}, store.workdir, 120)
                spec = {**base, "mode": "work", "n": n, "concurrency": 16, "metrics": metrics}
                if on_redis:
                    before = RedisStats.read(url)
                result = run_driver(contender, spec, store.workdir, settings.timeout(n))
                run = {"rate": n / result["elapsed"], "cpu_us": result["cpu_s"] * 1e6 / n}
                run["redis_us"] = (
                    (RedisStats.read(url).cpu_s - before.cpu_s) * 1e6 / n if on_redis else 0.0
                )
                run["total_us"] = run["cpu_us"] + run["redis_us"]
                runs[label].append(run)

        def median(label: str, key: str, runs: dict[str, list[dict[str, float]]] = runs) -> float:
            return statistics.median(r[key] for r in runs[label])

        for label, _ in METRICS_CASES:
            rate, base_rate = median(label, "rate"), median("none", "rate")
            cells = [f"{contender.label:<16}{label:<16}{rate:>9,.0f}{1 - rate / base_rate:>8.1%}"]
            for key, width in (("cpu_us", 19), ("redis_us", 18), ("total_us", 14)):
                value, base_value = median(label, key), median("none", key)
                if key == "redis_us" and not on_redis:
                    cells.append(f"{'-':>{width}}{'':>8}")
                    continue
                cells.append(f"{value:>{width}.1f}{value / base_value - 1:>8.1%}")
            lines.append("".join(cells))
    lines.append(
        "(lost: throughput below the case without metrics; added: CPU per job above it. "
        "Redis CPU: the server's user+sys over the run, INFO cpu; CPU time varies less "
        "than wall time on a loaded machine)"
    )
    return "\n".join(lines)


def run_sibling_cost(contenders: Sequence[Contender], big: int, store: Store, quick: bool) -> str:
    """Completing a flow's child with 10 vs ``big`` pending siblings, on each corral backend."""
    calls = 50 if quick else 500
    lines = [
        f"Flow child completion with 10 vs {big:,} pending siblings "
        f"(corral; median of 3 cycles of {calls} completions):",
        "",
        f"{'backend':<16}{'siblings':>12}{'complete µs':>14}",
    ]
    for contender in corral_contenders(contenders):
        rows = []
        for siblings in (10, big):
            spec = {
                "mode": "sibling-cost",
                "url": store.fresh(contender),
                "queue": "bench-siblings",
                "n": calls,
                "waiting": siblings,
                "cycles": 3,
            }
            progress(f"sibling cost: {contender.key}, {siblings:,} siblings…")
            try:
                result = run_driver(contender, spec, store.workdir, 120 + siblings / 500)
            except DriverError as error:
                lines.append(f"{contender.label:<16}{siblings:>12,}  failed: {error}")
                continue
            rows.append(result)
            lines.append(f"{contender.label:<16}{siblings:>12,}{result['complete_us']:>14.0f}")
        if len(rows) == 2:
            ratio = rows[1]["complete_us"] / rows[0]["complete_us"]
            lines.append(f"{'':<16}{'big / 10':>12}{ratio:>13.2f}x")
    return "\n".join(lines)


def run_memory(contenders: Sequence[Contender], total: int, store: Store) -> str:
    """A corral worker's RSS while it processes ``total`` jobs (concurrency 16)."""
    every = max(1, total // 10)
    lines = [f"Worker RSS over a run of {total:,} jobs (corral, concurrency 16; VmRSS in MB):", ""]
    for contender in corral_contenders(contenders):
        url = store.fresh(contender)
        base = {"url": url, "queue": "bench-memory", "n": total, "batch": 1000}
        progress(f"memory: {contender.key}, {total:,} jobs…")
        timeout = 120 + total / 500
        worker = Driver(
            contender,
            {**base, "mode": "memory-worker", "concurrency": 16, "sample_every": every},
            store.workdir,
        )
        try:
            run_driver(contender, {**base, "mode": "memory-producer"}, store.workdir, timeout)
            result = worker.result(timeout)
        except DriverError as error:
            lines.append(f"{contender.label}: failed: {error}")
            continue
        finally:
            worker.close()
        samples = [(int(done), int(kb)) for done, kb in result["samples"]]
        lines.append(
            f"{contender.label}: {total / result['elapsed']:,.0f} jobs/s, "
            f"peak {result['rss_kb'] / 1024:.1f} MB"
        )
        lines.append("  jobs done  " + "".join(f"{done:>9,}" for done, _ in samples))
        lines.append("  RSS MB     " + "".join(f"{kb / 1024:>9.1f}" for _, kb in samples))
        if len(samples) > 3:
            settled = samples[len(samples) // 10 + 1][1]
            last = samples[-1][1]
            lines.append(
                f"  after warm-up ({samples[len(samples) // 10 + 1][0]:,} jobs) → end: "
                f"{(last - settled) / 1024:+.1f} MB ({(last - settled) / settled * 100:+.1f}%)"
            )
        lines.append("")
    return "\n".join(lines)


# -- command line ---------------------------------------------------------------------------------


def parse_list(text: str, known: Iterable[str], what: str) -> list[str]:
    known = list(known)
    if text.strip().lower() == "none":
        return []
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise SystemExit(f"unknown {what} {', '.join(unknown)}; known: {', '.join(known)}")
    return chosen


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Throughput and latency of corral against Node BullMQ and the Python peers.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny N and one round (smoke run)")
    parser.add_argument(
        "--only",
        default=",".join(CONTENDER_KEYS),
        help=f"contenders, comma-separated (default all: {','.join(CONTENDER_KEYS)})",
    )
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOAD_KEYS),
        help=f"workloads, comma-separated, or none (default all: {','.join(WORKLOAD_KEYS)})",
    )
    parser.add_argument("--rounds", type=int, help="rounds (default 3; 1 with --quick)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every N by this")
    parser.add_argument(
        "--fetch-cost",
        nargs="?",
        type=int,
        const=1_000_000,
        metavar="WAITING",
        help="also: corral's fetch cost with 1k vs WAITING (default 1,000,000) waiting jobs",
    )
    parser.add_argument(
        "--sibling-cost",
        nargs="?",
        type=int,
        const=10_000,
        metavar="SIBLINGS",
        help="also: completing a flow's child with 10 vs SIBLINGS (default 10,000) pending siblings",
    )
    parser.add_argument(
        "--memory",
        type=int,
        metavar="JOBS",
        help="also: a corral worker's RSS over a run of JOBS jobs (e.g. 1000000)",
    )
    parser.add_argument(
        "--metrics-cost",
        nargs="?",
        type=int,
        const=6,
        metavar="ROUNDS",
        help="also: c16 recording no metrics, each kind and both, ROUNDS rounds (default 6)",
    )
    parser.add_argument(
        "--deployments",
        action="store_true",
        help="also: corral on one server, on Sentinel and on a Redis Cluster (bench/deployments.py)",
    )
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="the event loop of every Python contender's driver (default asyncio)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the raw results here")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    keys = parse_list(args.only, CONTENDER_KEYS, "contender")
    contenders = [c for c in CONTENDERS if c.key in keys]
    workload_keys = parse_list(args.workloads, WORKLOAD_KEYS, "workload")
    workloads = [w for w in WORKLOADS if w.key in workload_keys]
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    if rounds < 1:
        raise SystemExit("--rounds must be at least 1")
    settings = Settings(rounds=rounds, quick=args.quick, scale=args.scale)
    loop_line = "event loop of the Python drivers: asyncio"
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            raise SystemExit(
                "--loop uvloop: uvloop is not installed (pip install uvloop)"
            ) from None
        os.environ[proto.EVENT_LOOP_ENV] = "uvloop"  # the drivers inherit it
        loop_line = f"event loop of the Python drivers: uvloop {uvloop.__version__}"
    if args.quick:
        settings.gap_ms = 10.0
    needs_redis = any(c.backend == "redis" for c in contenders)
    load_before = os.getloadavg()
    started = time.monotonic()
    output: list[str] = []
    raw: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="corral-bench-") as tmp:
        workdir = Path(tmp)
        with redis_server(workdir) if needs_redis else _no_redis() as redis_url:
            store = Store(redis_url, workdir)
            header = [
                "corral benchmark",
                f"machine: {os.cpu_count()} CPUs, load average {load_before[0]:.2f} at start; "
                f"redis-server on {redis_url or '(not needed)'}",
                loop_line,
            ]
            for contender in contenders:
                reason = unavailable(contender)
                header.append(
                    f"  {contender.key:<14} {version_of(contender)}"
                    + (f"  [skipped: {reason}]" if reason else "")
                )
            print("\n".join(header), flush=True)
            if workloads:
                cells = run_comparison(contenders, workloads, settings, store)
                output.append(render_tables(contenders, workloads, cells, settings))
                raw["comparison"] = {
                    f"{c}/{w}": {"runs": cell.runs, "problem": cell.problem}
                    for (c, w), cell in cells.items()
                }
            if args.fetch_cost:
                output.append(run_fetch_cost(contenders, args.fetch_cost, store, args.quick))
            if args.sibling_cost:
                output.append(run_sibling_cost(contenders, args.sibling_cost, store, args.quick))
            if args.memory:
                output.append(run_memory(contenders, args.memory, store))
            if args.metrics_cost:
                output.append(run_metrics_cost(contenders, args.metrics_cost, store, settings))
                output.append(run_metrics_phases(contenders, args.metrics_cost, store, settings))
            if args.deployments:
                from bench.deployments import run_deployments

                output.append(run_deployments(settings, workdir))
    load_after = os.getloadavg()
    output.append(
        f"took {time.monotonic() - started:.0f} s; load average {load_before[0]:.2f} at start, "
        f"{load_after[0]:.2f} at end (1-minute; {os.cpu_count()} CPUs)"
    )
    print("\n\n".join(output), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(raw, indent=1))
    return 0


@contextmanager
def _no_redis() -> Iterator[None]:
    yield None
