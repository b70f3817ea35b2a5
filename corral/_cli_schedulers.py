"""The ``corral schedulers | schedule | unschedule`` commands (job schedulers).

```
corral schedulers Q                                   id, schedule, next run, runs so far
corral schedule Q ID --every 60 | --cron "0 3 * * *" [--tz ZONE] [--limit N] NAME [DATA]
corral unschedule Q ID
```
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Coroutine
from typing import Any

from corral.errors import CorralError

__all__ = ["COMMANDS", "add_parsers"]


def add_parsers(sub: Any, store: argparse.ArgumentParser) -> None:
    """Add the scheduler commands to the CLI's subparsers."""
    listing = sub.add_parser("schedulers", parents=[store], help="list a queue's job schedulers")
    listing.add_argument("queue")

    schedule = sub.add_parser("schedule", parents=[store], help="create or replace a job scheduler")
    schedule.add_argument("queue")
    schedule.add_argument("id", help="the scheduler id (upserting it again replaces it)")
    schedule.add_argument("name", help="the name of the jobs it adds")
    schedule.add_argument("data", nargs="?", default="{}", help="JSON payload of each job ({})")
    when = schedule.add_mutually_exclusive_group(required=True)
    when.add_argument("--every", type=float, metavar="SECONDS", help="run every SECONDS")
    when.add_argument("--cron", metavar="PATTERN", help="run at the times of a cron pattern")
    schedule.add_argument("--tz", metavar="ZONE", help="the cron pattern's IANA zone (UTC)")
    schedule.add_argument("--limit", type=int, metavar="N", help="at most N runs")
    schedule.add_argument("--attempts", type=int, default=0, metavar="N", help="attempts per run")

    unschedule = sub.add_parser("unschedule", parents=[store], help="remove a job scheduler")
    unschedule.add_argument("queue")
    unschedule.add_argument("id")


async def _schedulers(args: argparse.Namespace) -> None:
    from corral.cli import _print_table
    from corral.queue import Queue

    async with Queue(args.queue, url=args.url, prefix=args.prefix) as queue:
        schedulers = await queue.get_job_schedulers()
    if not schedulers:
        print(f"{args.queue}: no job schedulers")
        return
    rows = [["ID", "SCHEDULE", "NEXT RUN", "RUNS", "JOB"]]
    for s in schedulers:
        what = f"every {s.every:g}s" if s.every is not None else f"{s.cron} {s.tz or 'UTC'}"
        runs = str(s.iteration_count) + ("" if s.limit is None else f"/{s.limit}")
        rows.append([s.id, what, s.next_run.isoformat(timespec="seconds"), runs, s.name])
    _print_table(rows)


async def _schedule(args: argparse.Namespace) -> None:
    from corral.cli import UsageError
    from corral.queue import Queue

    try:
        data = json.loads(args.data)
    except (ValueError, RecursionError) as exc:
        raise UsageError(f'data must be JSON, e.g. \'{{"kind": "daily"}}\': {exc}') from None
    async with Queue(args.queue, url=args.url, prefix=args.prefix) as queue:
        job = await queue.upsert_job_scheduler(
            args.id,
            every=args.every,
            cron=args.cron,
            tz=args.tz,
            name=args.name,
            data=data,
            limit=args.limit,
            attempts=args.attempts,
        )
        state = await job.get_state()
    print(f"{args.id}: next run {job.id} ({state})")


async def _unschedule(args: argparse.Namespace) -> None:
    from corral.queue import Queue

    async with Queue(args.queue, url=args.url, prefix=args.prefix) as queue:
        removed = await queue.remove_job_scheduler(args.id)
    if not removed:
        raise CorralError(f"queue {args.queue!r} has no job scheduler {args.id!r}")
    print(f"{args.id}: removed")


COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, None]]] = {
    "schedulers": _schedulers,
    "schedule": _schedule,
    "unschedule": _unschedule,
}
"""The command functions, by command name."""
