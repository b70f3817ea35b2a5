"""The app and a worker on a fresh SQLite file per test; requests go through httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from shop.app import app
from shop.tasks import QUEUE, process

from corral import Worker


@pytest.fixture(autouse=True)
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'corral.db'}"
    monkeypatch.setenv("CORRAL_URL", url)  # the app and the worker both read it
    return url


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
            yield client


@pytest.fixture
async def worker() -> AsyncIterator[Worker]:
    """The worker of the project, processing in the background for the test."""
    async with Worker(QUEUE, process, drain_delay=0.2) as running:
        yield running
