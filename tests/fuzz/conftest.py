"""Fixtures of the fuzz suite: a report of what a test measured, printed in pytest's
summary (as the chaos suite's is)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import print_report, reported

_REPORT: list[str] = []


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Lines a test appends here are printed (``-s``) and shown in pytest's summary."""
    yield from reported(request, "fuzz", _REPORT)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    print_report(terminalreporter, "fuzz report", _REPORT)
