"""Fixtures of the fuzz suite: a report of what a test measured, printed in pytest's
summary (as the chaos suite's is)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

_REPORT: list[str] = []


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Lines a test appends here are printed (``-s``) and shown in pytest's summary."""
    lines: list[str] = []
    started = time.monotonic()
    yield lines
    took = time.monotonic() - started
    for line in lines:
        print(f"[fuzz] {request.node.name}: {line}")
    _REPORT.extend(f"{request.node.name} ({took:.1f}s): {line}" for line in lines)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _REPORT:
        terminalreporter.section("fuzz report")
        for line in _REPORT:
            terminalreporter.write_line(line)
