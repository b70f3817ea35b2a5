"""``corral dashboard`` and ``corral worker --metrics-port``, run as programs."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from corral import sync
from corral._cli_dashboard import is_loopback
from tests.conftest import _free_port
from tests.dashboard.conftest import start_dashboard, stop_dashboard

CORRAL = [sys.executable, "-m", "corral"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CORRAL, *args], capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("::", False), ("example.com", False)],
)  # fmt: skip
def test_only_loopback_addresses_count_as_private(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_reachable_address_without_credentials_is_refused(sqlite_url: str) -> None:
    refused = run("dashboard", "--url", sqlite_url, "--host", "0.0.0.0")

    assert refused.returncode == 2
    assert "refusing to serve the dashboard on 0.0.0.0" in refused.stderr
    assert "--auth USER:PASSWORD" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_bad_credentials_settings_are_one_clear_line(sqlite_url: str) -> None:
    bad = run("dashboard", "--url", sqlite_url, "--auth", "admin")
    assert bad.returncode == 2
    assert "auth must look like 'user:password'" in bad.stderr
    bad_env = run("dashboard", "--url", sqlite_url, env={"CORRAL_DASHBOARD_TOKEN": "short"})
    assert bad_env.returncode == 2
    assert "at least 16 characters" in bad_env.stderr


def test_the_served_dashboard_asks_for_the_credentials_it_was_given(sqlite_url: str) -> None:
    server = start_dashboard(sqlite_url, "--read-only", env_auth="admin:pa55word")
    try:
        anonymous = httpx.get(server.base + "/api/config")
        good = base64.b64encode(b"admin:pa55word").decode()
        config = httpx.get(server.base + "/api/config", headers={"authorization": f"Basic {good}"})
    finally:
        out = stop_dashboard(server)

    assert anonymous.status_code == 401
    assert config.status_code == 200
    assert config.json()["read_only"] is True
    assert "(read-only)" in out
    assert "Application shutdown complete" in out
    assert "pa55word" not in out


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_worker_serves_its_metrics(url: str, queue_name: str, tmp_path: Path) -> None:
    (tmp_path / "tasks.py").write_text(
        "def process(job):\n"
        "    if job.data == 'bad':\n"
        "        raise ValueError('bad input')\n"
        "    return 'ok'\n"
    )
    with sync.Queue(queue_name, url=url) as q:
        q.add_bulk([{"name": "resize", "data": "good"}] * 3 + [{"name": "resize", "data": "bad"}])
    port = _free_port()
    proc = subprocess.Popen(
        [*CORRAL, "worker", "tasks:process", "-q", queue_name, "--url", url, "-c", "2",
         "--metrics-port", str(port)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    labels = (("name", "resize"), ("queue", queue_name))
    # Every count the four jobs leave; polled until all of them are there (the failed
    # job may be counted after the third completion, and a loaded machine is slow to
    # start the program).
    wanted = {
        ("corral_jobs_completed_total", labels): 3,
        ("corral_jobs_failed_total", labels): 1,
        ("corral_job_duration_seconds_count", labels): 4,
        ("corral_job_wait_seconds_count", (("queue", queue_name),)): 4,
        ("corral_worker_concurrency", (("queue", queue_name),)): 2,
    }
    try:
        samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            except httpx.HTTPError:
                time.sleep(0.2)
                continue
            samples = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }
            if all(samples.get(key) == value for key, value in wanted.items()):
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert {key: samples.get(key) for key in wanted} == wanted, out
    assert proc.returncode == 0, out


def test_ports_out_of_range_are_one_clear_line(sqlite_url: str, tmp_path: Path) -> None:
    bad = run("dashboard", "--url", sqlite_url, "--port", "0")
    assert bad.returncode == 2
    assert "--port must be between 1 and 65535" in bad.stderr
    (tmp_path / "tasks.py").write_text("def process(job):\n    return None\n")
    worker = subprocess.run(
        [*CORRAL, "worker", "tasks:process", "-q", "q", "--url", sqlite_url,
         "--metrics-port", "70000"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert worker.returncode == 2
    assert "--metrics-port must be between 1 and 65535" in worker.stderr
