"""BullMQ's fetch order, written down as a model the interop tests compare against.

A plain job is LPUSHed to the head of ``wait``, a lifo job RPUSHed to its tail,
and workers take from the tail; so lifo jobs come first (newest first), then plain
jobs (oldest first). Only when ``wait`` is empty do prioritized jobs come, lowest
priority number first and, within one priority, in the order they were added.
Delayed jobs join the line when they are due.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any


def fetch_order(jobs: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Names of the jobs that are not delayed, in the order a BullMQ worker takes them.

    ``jobs`` is ``(name, opts)`` in the order they were added; opts as BullMQ's
    (``lifo``, ``priority``, ``delay``).
    """
    wait: deque[str] = deque()  # left = head (LPUSH side); workers pop from the right
    prioritized: list[tuple[int, int, str]] = []
    for added, (name, opts) in enumerate(jobs):
        if opts.get("delay"):
            continue
        if opts.get("priority"):
            prioritized.append((int(opts["priority"]), added, name))
        elif opts.get("lifo"):
            wait.append(name)
        else:
            wait.appendleft(name)
    order = [wait.pop() for _ in range(len(wait))]
    return order + [name for _, _, name in sorted(prioritized)]
