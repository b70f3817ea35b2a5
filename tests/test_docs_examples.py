"""Every code example of the documentation runs here, so none goes stale.

The pages include their code from ``docs/examples/`` (``--8<--`` snippets), and
this module runs those same files:

* a script (a file with ``if __name__ == "__main__":``) runs as ``python FILE``
  would, in a fresh directory, on each backend: with no ``CORRAL_URL`` (the
  SQLite default, ``corral.db`` in that directory) and with ``CORRAL_URL`` set
  to a Redis database flushed first. When ``FILE.out`` exists (the output a page
  shows), the script must print exactly that.
* the files that need more (a peer queue library, Node BullMQ, a TLS server, a
  worker process, deployment files) have a test of their own below, listed in
  ``DEDICATED``.

``test_every_example_is_run_and_shown`` keeps the two lists honest: each file
under ``docs/examples/`` is run by one of them, and is included by some page.
"""

from __future__ import annotations

import asyncio
import configparser
import importlib
import os
import re
import runpy
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from redis import Redis

from tests.conftest import _free_port, _wait_for_port, service_missing
from tests.tls import Certificates

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
EXAMPLES = DOCS / "examples"
CORRAL = [sys.executable, "-m", "corral"]

DEDICATED = {
    "tasks.py": "test_the_getting_started_commands_work",
    "quickstart_cli.sh": "test_the_getting_started_commands_work",
    "tls_acl.py": "test_the_tls_and_acl_example_connects_as_an_acl_user_over_tls",
    "celery_app.py": "test_the_celery_side_gives_the_same_result",
    "rq_app.py": "test_the_rq_side_gives_the_same_result",
    "arq_app.py": "test_the_arq_side_gives_the_same_result",
    "bullmq_producer.mjs": "test_node_and_corral_share_the_migrating_queue",
    "bullmq_worker.mjs": "test_node_and_corral_share_the_migrating_queue",
    "bullmq_to_corral.py": "test_node_and_corral_share_the_migrating_queue",
    "deploy/corral-worker.service": "test_the_systemd_unit_runs_a_worker_that_stops_gracefully",
    "deploy/Dockerfile": "test_the_container_files_run_the_same_worker_and_wait_for_it",
    "deploy/compose.yaml": "test_the_container_files_run_the_same_worker_and_wait_for_it",
    "deploy/deployment.yaml": "test_the_container_files_run_the_same_worker_and_wait_for_it",
    "telemetry.py": "test_the_telemetry_example_traces_in_a_process_of_its_own",
}
"""Example files run by a test of their own (the value names it), not as scripts."""

EXAMPLES_DB = 15
"""The Redis database the examples run in (flushed before each: they use fixed names)."""


def _example_files() -> list[str]:
    return sorted(
        str(path.relative_to(EXAMPLES))
        for path in EXAMPLES.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".out"
    )


def _scripts() -> list[str]:
    return [
        name
        for name in _example_files()
        if name.endswith(".py")
        and name not in DEDICATED
        and 'if __name__ == "__main__":' in (EXAMPLES / name).read_text()
    ]


@pytest.fixture
def examples_redis(redis_url: str) -> str:
    """A Redis URL for one example: its own database, emptied first."""
    url = redis_url.rsplit("/", 1)[0] + f"/{EXAMPLES_DB}"
    client = Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    return url


@pytest.fixture
def in_fresh_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty directory, with the examples importable as a reader's project is."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.delenv("CORRAL_URL", raising=False)
    return tmp_path


def _run_script(name: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    return capsys.readouterr().out


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
@pytest.mark.parametrize("name", _scripts())
def test_example_runs(
    name: str,
    backend: str,
    in_fresh_dir: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if backend == "redis":
        monkeypatch.setenv("CORRAL_URL", request.getfixturevalue("examples_redis"))
    out = _run_script(name, capsys)
    expected = EXAMPLES / (name[: -len(".py")] + ".out")
    if expected.exists():
        assert out == expected.read_text(), f"{name} no longer prints what its page shows"
    if backend == "sqlite":
        # The default store: a corral.db in the current directory, as the pages say.
        assert (in_fresh_dir / "corral.db").exists()


def test_every_example_is_run_and_shown() -> None:
    scripts = set(_scripts())
    for name in _example_files():
        assert name in scripts or name in DEDICATED, (
            f"docs/examples/{name} is run by no test: give it an `if __name__ == '__main__':` "
            "or list it in DEDICATED with a test of its own"
        )
    for name, test in DEDICATED.items():
        assert (EXAMPLES / name).exists(), f"DEDICATED names docs/examples/{name}, which is gone"
        assert test in globals(), f"DEDICATED names {test}, which is not a test here"
    pages = "\n".join(page.read_text() for page in DOCS.rglob("*.md"))
    included = set(re.findall(r'--8<-- "docs/examples/([^":]+)', pages))
    for name in _example_files():
        assert name in included, f"docs/examples/{name} is shown on no page"
    for name in scripts:
        out = name[: -len(".py")] + ".out"
        if (EXAMPLES / out).exists():
            assert out in included, f"docs/examples/{out} is shown on no page"


# -- getting started: the command line ---------------------------------------------------------


def _commands(section: str) -> list[list[str]]:
    text = (EXAMPLES / "quickstart_cli.sh").read_text()
    block = text.split(f"[start:{section}]", 1)[1].split(f"[end:{section}]", 1)[0]
    lines = [line.strip() for line in block.splitlines()[1:-1]]
    return [shlex.split(line) for line in lines if line and not line.startswith("#")]


def _corral(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert argv[0] == "corral"
    return subprocess.run(
        [*CORRAL, *argv[1:]], cwd=EXAMPLES, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_the_getting_started_commands_work(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        request.getfixturevalue("examples_redis")
        if backend == "redis"
        else f"sqlite:///{tmp_path / 'corral.db'}"
    )
    env = {**os.environ, "CORRAL_URL": url, "PYTHONUNBUFFERED": "1"}
    (worker_argv,) = _commands("worker")
    worker = subprocess.Popen(
        [*CORRAL, *worker_argv[1:]], cwd=EXAMPLES, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        for argv in _commands("add"):
            added = _corral(argv, env)
            assert added.returncode == 0, added.stderr
        deadline = time.monotonic() + 30
        while True:
            look = [_corral(argv, env) for argv in _commands("look")]
            if "grace@example.com" in look[-1].stdout:
                break
            assert time.monotonic() < deadline, look[-1].stdout + look[-1].stderr
            time.sleep(0.2)
        assert all(result.returncode == 0 for result in look)
        assert "emails" in look[0].stdout  # corral status lists the queue
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, out
    assert "completed" in out


# -- TLS and ACL -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_acl_server(
    tls_certificates: Certificates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, Path, str]]:
    """A TLS-only redis-server whose only user is an ACL user; (port, CA file, password)."""
    exe = shutil.which("redis-server")
    if exe is None:
        service_missing("redis-server is needed for the TLS example")
    assert exe is not None
    workdir = tmp_path_factory.mktemp("docs-tls")
    password = "p@ss:w/rd#1 ?&"  # every character a URL gives a meaning to
    port = _free_port()
    proc = subprocess.Popen(
        [exe, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         *tls_certificates.server_args(auth_clients=False),
         "--save", "", "--dir", str(workdir), "--user", "default", "off",
         "--user", "corral", "on", f">{password}", "~bull:*", "&*", "+@all", "-@dangerous",
         "+info", "+client"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for_port(port, proc, time.monotonic() + 10)
        yield port, tls_certificates.ca, password
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _import(name: str) -> ModuleType:
    sys.path.insert(0, str(EXAMPLES))
    try:
        sys.modules.pop(name, None)
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(EXAMPLES))


def test_the_tls_and_acl_example_connects_as_an_acl_user_over_tls(
    tls_acl_server: tuple[int, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    port, ca, password = tls_acl_server
    example = _import("tls_acl")
    url = example.redis_url("localhost", port, user="corral", password=password, ca_file=str(ca))
    asyncio.run(example.main(url))
    out = capsys.readouterr().out
    assert out.startswith("added job 1 over TLS as rediss://corral:***@localhost:")
    assert password not in out


# -- migrating: the peers' side of each side-by-side example -------------------------------------


def _peer(module: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError:
        service_missing(f"{module} is not installed (pip install -e '.[examples]')")


def test_the_celery_side_gives_the_same_result(in_fresh_dir: Path) -> None:
    _peer("celery")
    example = _import("celery_app")
    example.app.conf.task_always_eager = True  # run in-process: no broker needed to compare
    assert example.place_order() + "\n" == (EXAMPLES / "celery_to_corral.out").read_text()


def test_the_rq_side_gives_the_same_result(
    examples_redis: str, in_fresh_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _peer("rq")
    _import("rq_app").main(examples_redis)
    out = capsys.readouterr().out
    assert out == (EXAMPLES / "rq_to_corral.out").read_text()


def test_the_arq_side_gives_the_same_result(
    examples_redis: str, in_fresh_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _peer("arq")
    _import("arq_app").main(examples_redis)
    out = capsys.readouterr().out
    assert out == (EXAMPLES / "arq_to_corral.out").read_text()


def _node(script: str, url: str) -> str:
    node = shutil.which("node")
    if node is None or not (REPO / "node_modules" / "bullmq").is_dir():
        service_missing("node and node_modules/bullmq are needed (npm ci)")
    assert node is not None
    done = subprocess.run(
        [node, str(EXAMPLES / script), url], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_node_and_corral_share_the_migrating_queue(
    examples_redis: str, capsys: pytest.CaptureFixture[str]
) -> None:
    example = _import("bullmq_to_corral")
    # A Node producer's job, processed by the corral worker.
    assert _node("bullmq_producer.mjs", examples_redis) == "added job 1\n"
    asyncio.run(example.serve(examples_redis, jobs=1))
    assert (
        capsys.readouterr().out == "job 1 completed: receipt for order 42 sent to ada@example.com\n"
    )
    # A corral producer's job, processed by the Node worker.
    job_id = asyncio.run(example.add_from_python(examples_redis))
    assert _node("bullmq_worker.mjs", examples_redis) == (
        f"job {job_id} completed: receipt for order 43 sent to grace@example.com\n"
    )


# -- deployment files -------------------------------------------------------------------------------


def _unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    unit.read_string((EXAMPLES / "deploy" / "corral-worker.service").read_text())
    return unit


def _grace(argv: list[str]) -> float:
    return float(argv[argv.index("--grace") + 1]) if "--grace" in argv else 30.0


def _run_worker_until_sigterm(argv: list[str], url: str) -> tuple[int, str]:
    """Run a documented worker command; add a job; stop it as the service manager would."""
    assert argv[:2] == ["corral", "worker"], argv
    env = {**os.environ, "CORRAL_URL": url, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [*CORRAL, *argv[1:]], cwd=EXAMPLES, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        queue = argv[argv.index("--queue") + 1]
        added = _corral(["corral", "add", queue, "welcome", '{"to": "ops@example.com"}'], env)
        assert added.returncode == 0, added.stderr
        deadline = time.monotonic() + 30
        while (
            "ops@example.com"
            not in _corral(["corral", "jobs", queue, "-s", "completed"], env).stdout
        ):
            assert time.monotonic() < deadline, "the documented worker processed nothing"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=_grace(argv) + 10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out


def test_the_systemd_unit_runs_a_worker_that_stops_gracefully(tmp_path: Path) -> None:
    service = _unit()["Service"]
    argv = shlex.split(service["ExecStart"])
    assert Path(argv[0]).name == "corral"
    argv[0] = "corral"
    # systemd sends SIGTERM and waits TimeoutStopSec before SIGKILL: longer than the grace.
    assert service["KillSignal"] == "SIGTERM"
    assert float(service["TimeoutStopSec"]) > _grace(argv)
    code, out = _run_worker_until_sigterm(argv, f"sqlite:///{tmp_path / 'corral.db'}")
    assert code == 0, out
    assert "SIGTERM received" in out


def _dockerfile_cmd() -> list[str]:
    import json

    for line in (EXAMPLES / "deploy" / "Dockerfile").read_text().splitlines():
        if line.startswith("CMD "):
            cmd = json.loads(line[len("CMD ") :])  # the exec form: a JSON list
            assert isinstance(cmd, list)
            return [str(part) for part in cmd]
    raise AssertionError("the Dockerfile has no CMD")


def test_the_container_files_run_the_same_worker_and_wait_for_it(tmp_path: Path) -> None:
    yaml: Any = pytest.importorskip("yaml")  # PyYAML comes with the docs tools
    cmd = _dockerfile_cmd()
    grace = _grace(cmd)
    compose = yaml.safe_load((EXAMPLES / "deploy" / "compose.yaml").read_text())
    stop_grace = compose["services"]["worker"]["stop_grace_period"]
    assert float(stop_grace.removesuffix("s")) > grace  # docker stop waits longer than the grace
    deployment = yaml.safe_load((EXAMPLES / "deploy" / "deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > grace
    assert pod["containers"][0]["command"] == cmd  # one worker command everywhere
    code, out = _run_worker_until_sigterm(cmd, f"sqlite:///{tmp_path / 'corral.db'}")
    assert code == 0, out


# -- OpenTelemetry: a tracer provider is set once per process --------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_the_telemetry_example_traces_in_a_process_of_its_own(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CORRAL_URL"}
    if backend == "redis":
        env["CORRAL_URL"] = request.getfixturevalue("examples_redis")
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "telemetry.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == (EXAMPLES / "telemetry.out").read_text()
