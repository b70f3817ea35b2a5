"""The integrations under examples/ pass their own tests, run as their users run them.

Each example is a small project of its own: the FastAPI app and the pytest
recipe with ``pytest`` in their directory, the Django project with Django's
test runner, the script with its test. Their dependencies are the test-only
``examples`` extra (``pip install -e '.[examples]'``, which scripts/setup does);
a missing one skips locally and fails under CI.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import _free_port, service_missing

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _needs(*modules: str) -> None:
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        service_missing(f"{', '.join(missing)} not installed: pip install -e '.[examples]'")


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # The examples choose their own store: no CORRAL_URL leaks in from the test run.
    env = {key: value for key, value in os.environ.items() if key != "CORRAL_URL"}
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _pytest(project: str) -> None:
    done = _run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], EXAMPLES / project
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout, done.stdout
    assert "failed" not in done.stdout, done.stdout


def test_the_fastapi_app_enqueues_and_reports_results() -> None:
    _needs("fastapi", "httpx")
    _pytest("fastapi_app")


def test_the_pytest_recipe_runs_its_own_tests() -> None:
    _pytest("pytest_recipe")


def test_the_plain_script_queues_and_works_by_hand() -> None:
    _pytest("script")


def test_the_django_project_passes_its_tests() -> None:
    _needs("django")
    done = _run([sys.executable, "manage.py", "test", "-v", "2"], EXAMPLES / "django_project")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Ran 3 tests" in done.stderr, done.stderr
    assert "\nOK" in done.stderr, done.stderr


def _start(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    # The Procfile's programs, from this interpreter's environment.
    assert argv[0] in ("corral", "uvicorn"), argv
    return subprocess.Popen(
        [sys.executable, "-m", *argv], cwd=cwd, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip


def test_the_fastapi_procfile_serves_orders_and_works_them_off(tmp_path: Path) -> None:
    """Both processes of the Procfile, as written: an order over HTTP becomes a receipt."""
    _needs("fastapi", "httpx", "uvicorn")
    import httpx

    project = EXAMPLES / "fastapi_app"
    port = _free_port()
    env = {**os.environ, "CORRAL_URL": f"sqlite:///{tmp_path / 'corral.db'}"}
    procs: list[subprocess.Popen[str]] = []
    try:
        for line in (project / "Procfile").read_text().splitlines():
            command = line.split(":", 1)[1].replace("--port 8000", f"--port {port}")
            procs.append(_start(shlex.split(command), project, env))
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    placed = client.post("/orders", json={"order": 5, "email": "ada@example.com"})
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "the web process never listened"
                    time.sleep(0.1)
            assert placed.status_code == 202
            answer = client.get(f"/jobs/{placed.json()['job_id']}", params={"wait": 20}).json()
        assert answer["state"] == "completed", answer
        assert answer["result"] == {"order": 5, "sent_to": "ada@example.com"}
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    web, worker = procs
    assert web.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled
    assert worker.returncode == 0  # corral finished its jobs and exited cleanly
