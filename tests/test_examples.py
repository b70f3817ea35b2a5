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
import subprocess
import sys
from pathlib import Path

from tests.conftest import service_missing

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
