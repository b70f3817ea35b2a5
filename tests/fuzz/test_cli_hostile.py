"""The command line under hostile input and with secrets, run in a subprocess as
users run it.

* Every error is one line on stderr, whatever the input (JSON nested deeper than
  Python's recursion limit included), never a traceback.
* A password never shows: not in an error, whatever the URL's shape, nor in a log line.
* A password need not be on the command line, where every user of the machine can
  read it (``/proc/<pid>/cmdline``, ``ps``): ``--url-file`` and ``$CORRAL_URL`` take the
  URL instead, and a password given with ``--url`` draws a warning.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import start_redis_server, stop_redis_server

CORRAL = [sys.executable, "-m", "corral"]
SECRET = "s3cr3t-Pw-9f2"


def corral(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CORRAL, *args], capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, **(env or {})}, cwd=cwd,
    )  # fmt: skip


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode in (1, 2), (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_json_nested_too_deeply_is_one_error_line(sqlite_url: str, tmp_path: Path) -> None:
    deep = "[" * 50_000 + "]" * 50_000
    line = one_error_line(corral("add", "q", "n", deep, "--url", sqlite_url))
    assert line.startswith("corral add: error: "), line
    assert "nested too deeply" in line, line
    assert not (tmp_path / "corral-test.db").exists()  # nothing was written, not even a file


@pytest.mark.parametrize(
    "url",
    [
        f"redis://:{SECRET}@127.0.0.1:notaport/0",
        f"redis://user:{SECRET}@127.0.0.1:1/0",  # nothing listens there
        f"rediss://:{SECRET}@127.0.0.1/0?ssl_ca_certs=/nonexistent.pem",
        f"redis://:{SECRET}@127.0.0.1/0?password={SECRET}",
        f"sqlite://user:{SECRET}@host/x.db",
        f"sqlite:///x.db?password={SECRET}",
        f"ftp://u:{SECRET}@h/x",
    ],
)
def test_an_error_about_a_url_never_shows_its_password(url: str, tmp_path: Path) -> None:
    for args in (["status", "--url", url], ["add", "q", "n", "{}", "--url", url]):
        done = corral(*args, cwd=tmp_path)
        assert SECRET not in done.stdout + done.stderr, done.stderr
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr
        assert done.stderr.strip().splitlines()[-1].startswith(f"corral {args[0]}: error: ")


def test_a_url_of_the_wrong_type_is_refused_without_showing_it() -> None:
    from corral import Queue

    with pytest.raises(TypeError) as caught:
        Queue("q", url=f"redis://:{SECRET}@h/0".encode())  # type: ignore[arg-type]
    assert SECRET not in str(caught.value)


@pytest.fixture(scope="module")
def protected_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server that requires the password SECRET; its URL without the password."""
    server = start_redis_server(tmp_path_factory.mktemp("auth"), extra=["--requirepass", SECRET])
    try:
        yield f"127.0.0.1:{server.port}/0"
    finally:
        stop_redis_server(server)


def test_a_password_on_the_command_line_draws_a_warning(protected_redis: str) -> None:
    done = corral("status", "--url", f"redis://:{SECRET}@{protected_redis}")
    assert done.returncode == 0, done.stderr
    assert "process list" in done.stderr, done.stderr
    assert "--url-file" in done.stderr
    assert "CORRAL_URL" in done.stderr
    assert SECRET not in done.stdout + done.stderr


def test_the_url_comes_from_a_file_or_the_environment_and_stays_off_the_command_line(
    protected_redis: str, tmp_path: Path, queue_name: str
) -> None:
    url = f"redis://:{SECRET}@{protected_redis}"
    url_file = tmp_path / "corral.url"
    url_file.write_text(url + "\n")
    url_file.chmod(0o600)
    added = corral("add", queue_name, "job", '{"n": 1}', "--url-file", str(url_file))
    assert added.returncode == 0, added.stderr
    assert added.stderr == ""  # no warning: the password is not on the command line
    listed = corral("jobs", queue_name, env={"CORRAL_URL": url})
    assert listed.returncode == 0, listed.stderr
    assert "job" in listed.stdout
    assert listed.stderr == ""

    (tmp_path / "tasks.py").write_text("def process(job):\n    return job.data['n'] * 2\n")
    worker = subprocess.Popen(
        [*CORRAL, "worker", "tasks:process", "-q", queue_name, "--url-file", str(url_file)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        command_line = Path(f"/proc/{worker.pid}/cmdline").read_bytes()
        assert SECRET.encode() not in command_line
        deadline = time.monotonic() + 30
        while "completed" not in corral("jobs", queue_name, "--url-file", str(url_file)).stdout:
            assert time.monotonic() < deadline, "the worker never completed the job"
            time.sleep(0.2)
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, out
    assert SECRET not in out


def test_bad_url_sources_are_one_error_line(tmp_path: Path) -> None:
    missing = one_error_line(corral("status", "--url-file", str(tmp_path / "nope")))
    assert "--url-file" in missing, missing
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert "empty" in one_error_line(corral("status", "--url-file", str(empty)))
    both = one_error_line(corral("status", "--url", "sqlite:///x.db", "--url-file", str(empty)))
    assert "not both" in both, both


def test_a_worker_failing_to_reach_its_store_never_logs_the_password(tmp_path: Path) -> None:
    # Nothing listens on port 1: every call fails and is logged, with the URL around.
    url_file = tmp_path / "corral.url"
    url_file.write_text(f"redis://corral:{SECRET}@127.0.0.1:1/0?socket_connect_timeout=0.2\n")
    (tmp_path / "tasks.py").write_text("def process(job):\n    return None\n")
    worker = subprocess.Popen(
        [*CORRAL, "worker", "tasks:process", "-q", "q", "--url-file", str(url_file),
         "--log-level", "DEBUG"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        time.sleep(3)  # a few failed fetches and stalled checks, each logged
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert "cannot connect to Redis" in out, out
    assert "corral:***@127.0.0.1:1" in out, out  # the startup line names the store, masked
    assert SECRET not in out
    assert worker.returncode == 0, out
