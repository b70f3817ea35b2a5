"""The maintenance commands of ``corral``: retry --all, clean, drain, workers.

```
corral retry Q --all [--state failed|completed]     run every failed (or completed) job again
corral clean Q --state completed --older-than 1d [--limit N]
corral drain Q [--delayed]                          remove every job that waits
corral workers [Q]                                  the workers taking jobs now
```

Durations are a number of seconds or a number with a unit: ``30s``, ``5m``,
``1h``, ``1d`` (``1.5h`` too). :mod:`corral.cli` builds the parsers with
:func:`add_parsers` and runs these commands like its own.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

__all__ = ["COMMANDS", "add_parsers", "duration_arg", "parse_duration"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_CLEAN_STATES = ("completed", "failed", "delayed", "prioritized", "waiting", "active")


def parse_duration(text: str) -> float:
    """Seconds in ``30``, ``30s``, ``5m``, ``1h`` or ``1d``; ValueError naming the forms."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(
            f"a duration is a number of seconds or a number with s, m, h or d "
            f"(30s, 5m, 1h, 1d), not {text!r}"
        )
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def duration_arg(text: str) -> float:
    """``parse_duration`` for argparse: a bad duration is a usage error naming the forms."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parsers(sub: Any, store: argparse.ArgumentParser) -> None:
    """Add retry, clean, drain and workers to the ``corral`` subparsers."""
    retry = sub.add_parser(
        "retry", parents=[store], help="run failed jobs again (by id, or --all)",
        description="Run the given jobs again, or with --all every job of --state.",
    )  # fmt: skip
    retry.add_argument("queue")
    retry.add_argument("ids", nargs="*", metavar="ID")
    retry.add_argument("--all", action="store_true", help="every job of --state")
    retry.add_argument(
        "--state", choices=("failed", "completed"), default=None,
        help="with --all: the state to retry (failed)",
    )  # fmt: skip

    clean = sub.add_parser(
        "clean", parents=[store], help="remove old jobs of a state",
        description="Remove the jobs of --state that finished (or were last processed or "
        "created) more than --older-than ago.",
    )  # fmt: skip
    clean.add_argument("queue")
    clean.add_argument("--state", "-s", choices=_CLEAN_STATES, default="completed",
                       help="the state to clean (completed)")  # fmt: skip
    clean.add_argument("--older-than", type=duration_arg, default=0.0, metavar="DURATION",
                       help="only jobs older than this: 30s, 5m, 1h, 1d (0: all)")  # fmt: skip
    clean.add_argument("--limit", "-n", type=int, default=0, help="at most this many (0: all)")

    drain = sub.add_parser("drain", parents=[store], help="remove every job that waits")
    drain.add_argument("queue")
    drain.add_argument("--delayed", action="store_true", help="delayed jobs too")

    workers = sub.add_parser("workers", parents=[store], help="the workers taking jobs now")
    workers.add_argument("queue", nargs="?", help="only this queue (default: every queue)")


async def _retry(args: argparse.Namespace) -> None:
    from corral.cli import UsageError, retry_ids
    from corral.queue import Queue

    if args.all == bool(args.ids):
        raise UsageError("give job ids or --all, not both and not neither")
    if args.state is not None and not args.all:
        raise UsageError("--state goes with --all")
    if not args.all:
        await retry_ids(args)
        return
    state = args.state or "failed"
    async with Queue(args.queue, url=args.url, prefix=args.prefix) as queue:
        moved = await queue.retry_jobs(state)
    print(f"{args.queue}: {moved} {state} job(s) retried")


async def _clean(args: argparse.Namespace) -> None:
    from corral.cli import UsageError
    from corral.queue import Queue

    if args.limit < 0:
        raise UsageError("--limit must be >= 0")
    async with Queue(args.queue, url=args.url, prefix=args.prefix) as queue:
        removed = await queue.clean(args.state, grace=args.older_than, limit=args.limit)
    print(f"{args.queue}: {len(removed)} {args.state} job(s) removed")


async def _drain(args: argparse.Namespace) -> None:
    from corral.queue import Queue

    async with Queue(args.queue, url=args.url, prefix=args.prefix) as queue:
        removed = await queue.drain(delayed=args.delayed)
    print(f"{args.queue}: {removed} job(s) removed")


async def _workers(args: argparse.Namespace) -> None:
    from corral.cli import print_table, queue_names
    from corral.queue import Queue

    names = await queue_names(args)
    rows = [["queue", "name", "host", "pid", "started", "last seen"]]
    for name in names:
        async with Queue(name, url=args.url, prefix=args.prefix) as queue:
            for worker in await queue.get_workers():
                rows.append([
                    name, worker.name or "-", worker.host or "-",
                    "-" if worker.pid is None else str(worker.pid),
                    worker.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                    worker.last_seen.strftime("%Y-%m-%d %H:%M:%S"),
                ])  # fmt: skip
    if len(rows) == 1:
        print("no workers", file=sys.stdout)
        return
    print_table(rows)


COMMANDS = {"retry": _retry, "clean": _clean, "drain": _drain, "workers": _workers}
"""The commands of this module by name, for :mod:`corral.cli`."""
