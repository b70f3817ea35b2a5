"""The caller's clock: the ``now`` every operation hands to its backend.

This is the one place corral reads the wall clock for a store operation. Code
calls ``_clock.now_ms()`` through the module (never ``from … import now_ms``), so
a test can drive time by replacing this one function.
"""

from __future__ import annotations

import time

__all__ = ["now_ms"]


def now_ms() -> int:
    """The wall clock in Unix epoch milliseconds."""
    return time.time_ns() // 1_000_000
