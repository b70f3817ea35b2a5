"""Fixtures for the dashboard: the app on each backend, a real server, a real browser.

* ``prefix``: a key prefix of the test's own, so the overview lists only its queues.
* ``client``: an httpx client driving ``create_app`` in process (the JSON API).
* ``server``: ``corral dashboard`` started as a program on a free loopback port.
* ``browser``: headless Chromium (Debian's ``chromium`` + ``chromium-driver``)
  through Selenium; missing locally → skip with the reason, under ``CI`` → fail.
  Screenshots go to ``tests/artifacts/`` (``CORRAL_ARTIFACTS`` to put them elsewhere).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import _free_port, service_missing

ARTIFACTS = Path(os.environ.get("CORRAL_ARTIFACTS", Path(__file__).parents[1] / "artifacts"))


@pytest.fixture
def prefix() -> str:
    return f"dash{uuid.uuid4().hex[:10]}"


@dataclass
class Api:
    """The app under test and an httpx client for it, with the page's CSRF token."""

    app: Any
    http: httpx.AsyncClient
    csrf: str

    async def get(self, path: str, **params: Any) -> Any:
        reply = await self.http.get(path, params=params)
        assert reply.status_code == 200, reply.text
        return reply.json()

    async def post(self, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        sent = {"x-corral-csrf": self.csrf, **headers}
        return await self.http.post(path, json=body, headers=sent)


async def make_api(url: str, prefix: str, **options: Any) -> Api:
    from corral.dashboard import create_app

    app = create_app(url, prefix=prefix, **options)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    csrf = (await http.get("/api/config")).json().get("csrf_token", "")
    return Api(app, http, csrf)


@pytest.fixture
async def client(url: str, prefix: str) -> AsyncIterator[Api]:
    api = await make_api(url, prefix)
    try:
        yield api
    finally:
        await api.http.aclose()
        await api.app.state.corral.close()


class Server:
    """A ``corral dashboard`` process."""

    def __init__(self, base: str, proc: subprocess.Popen[bytes]) -> None:
        self.base = base
        self.proc = proc


def start_dashboard(url: str, *args: str, env_auth: str | None = None) -> Server:
    """Start ``corral dashboard`` on a free port (``env_auth``: its credentials, given
    the way that keeps them out of the process list)."""
    port = _free_port()
    env = dict(os.environ)
    if env_auth is not None:
        env["CORRAL_DASHBOARD_AUTH"] = env_auth
    proc = subprocess.Popen(
        [sys.executable, "-m", "corral", "dashboard", "--url", url, "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            raise RuntimeError(f"corral dashboard exited ({proc.returncode}): {out}")
        try:
            if httpx.get(base + "/api/config", timeout=1).status_code in (200, 401):
                return Server(base, proc)
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("corral dashboard did not answer in time")


def stop_dashboard(server: Server) -> str:
    """Stop the dashboard as a service manager does (SIGTERM); returns what it printed."""
    server.proc.terminate()
    try:
        out, _ = server.proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        out, _ = server.proc.communicate()
    return out.decode(errors="replace")


@pytest.fixture
def server(url: str, prefix: str) -> Iterator[Server]:
    started = start_dashboard(url, "--prefix", prefix)
    try:
        yield started
    finally:
        stop_dashboard(started)


def _chromium() -> tuple[str, str] | None:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return None if binary is None or driver is None else (binary, driver)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    found = _chromium()
    if found is None:
        service_missing(
            "headless Chromium is not installed (apt-get install chromium chromium-driver)"
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        service_missing("selenium is not installed (pip install -e '.[dev]')")
    assert found is not None
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
        "--window-size=1280,860", "--lang=en-US",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(found[1]))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, name: str) -> Path:
    """Keep what the browser shows as ``ARTIFACTS/<name>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
