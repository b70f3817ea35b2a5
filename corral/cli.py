"""The ``corral`` command line.

```
corral demo [--url URL]                         the manual-fetching demo (temporary SQLite)
corral worker pkg.module:function --queue Q     run a processor worker until SIGINT/SIGTERM
corral status [--queue Q]                       job counts per state, per queue
corral jobs Q [--state failed] [--limit N]      list jobs with their reasons
corral add Q NAME '{"json": "data"}' [--delay S --priority N --attempts N ...]
corral retry|remove|promote Q ID [ID ...]       act on jobs
corral retry Q --all [--state failed]           run every failed (or completed) job again
corral clean Q --state completed --older-than 1d
corral drain Q [--delayed]                      remove every job that waits
corral workers [Q]                              the workers taking jobs now
corral pause|resume Q                           stop or restart handing out jobs
corral cancel Q ID [ID ...] [--reason TEXT]     cancel jobs (a running one is stopped)
corral dashboard [--host H --port N --read-only --auth user:password]   the web dashboard
corral schedulers Q                             list job schedulers (and schedule / unschedule)
```

Durations take ``30s``, ``5m``, ``1h``, ``1d`` or plain seconds.

Every command takes ``--url`` (default: ``$CORRAL_URL``, else ``sqlite:///corral.db``),
or ``--url-file PATH`` (the URL is the file's first line), and ``--prefix``. A
password on the command line can be read by every user of the machine (``ps``),
so one given with ``--url`` draws a warning: keep it in ``$CORRAL_URL`` or a file
only its user may read. Errors are one line on stderr with exit status 1 (the
operation failed) or 2 (bad usage), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from corral import _cli_admin, _cli_schedulers, _event_loop
from corral._version import __version__
from corral.backends import mask_url
from corral.errors import CorralError
from corral.options import OPTIONS, JobOptions

if TYPE_CHECKING:
    from corral.job import Job

__all__ = ["main"]

STATES = ("waiting", "active", "prioritized", "delayed", "completed", "failed", "waiting-children")


class UsageError(Exception):
    """Bad input on the command line: reported with exit status 2."""


def _store_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="store URL (default: $CORRAL_URL, else sqlite:///corral.db)")
    common.add_argument(
        "--url-file", metavar="PATH", help="read the store URL from this file (keeps a password "
        "off the command line, where every user can see it)",
    )  # fmt: skip
    common.add_argument("--prefix", default="bull", help="key prefix (default: bull)")
    return common


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="corral", description="corral: a reliable job queue with BullMQ's model."
    )
    parser.add_argument("--version", action="version", version=f"corral {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    store = _store_options()

    demo = sub.add_parser(
        "demo",
        help="run the manual-fetching demo end to end",
        description=(
            "Add jobs, fetch them by hand with tokens, extend locks, complete and fail "
            "them, recover a dead worker's job with the stalled checker, rate limit the "
            "queue and move a job back to wait. Uses a temporary SQLite file unless --url."
        ),
    )
    demo.add_argument("--url", help="run against this store, e.g. redis://localhost:6379/0")

    worker = sub.add_parser("worker", parents=[store], help="run a processor worker")
    worker.add_argument("processor", help="the job function, as 'package.module:function'")
    worker.add_argument("--queue", "-q", required=True, help="the queue to take jobs from")
    worker.add_argument(
        "--concurrency", "-c", type=int, default=None,
        help="jobs at once (1, or --processes when that is given)",
    )  # fmt: skip
    worker.add_argument("--lock-duration", type=float, default=30, help="seconds (30)")
    worker.add_argument("--stalled-interval", type=float, default=30, help="seconds (30)")
    worker.add_argument("--max-stalled-count", type=int, default=1, help="(1)")
    worker.add_argument("--grace", type=float, default=30, help="seconds to finish jobs on stop")
    worker.add_argument("--name", help="worker name recorded on each job")
    worker.add_argument(
        "--processes", "-p", type=int, default=None,
        help="run the processor in N child processes (default: in the worker process)",
    )  # fmt: skip
    worker.add_argument(
        "--timeout", type=_cli_admin.duration_arg, default=None, metavar="DURATION",
        help="fail an attempt that runs longer, e.g. 30s or 5m (jobs without their own "
        "timeout option); it is retried while attempts remain",
    )  # fmt: skip
    worker.add_argument(
        "--max-started-attempts", type=int, default=None, metavar="N",
        help="fail a job started more than N times (a job put back again and again by "
        "rate limits, stalls or move_to_wait) instead of running it again",
    )  # fmt: skip
    worker.add_argument(
        "--max-jobs-per-child", type=int, default=None, help="replace a child after N jobs"
    )
    worker.add_argument(
        "--max-memory-per-child", type=_size, default=None, metavar="SIZE",
        help="replace a child once a job leaves it above SIZE resident memory (e.g. 512M)",
    )  # fmt: skip
    worker.add_argument("--log-level", default="INFO", help="logging level (INFO)")
    worker.add_argument(
        "--metrics-port", type=int, metavar="N",
        help="serve Prometheus metrics on http://127.0.0.1:N/metrics (needs prometheus_client)",
    )  # fmt: skip
    worker.add_argument(
        "--metrics-host", default="127.0.0.1", help="address of the metrics server (127.0.0.1)"
    )
    worker.add_argument(
        "--loop", choices=_event_loop.LOOPS, default=None,
        help="event loop (default: $CORRAL_EVENT_LOOP, else auto: uvloop when installed, "
        "else asyncio's); child processes use the same",
    )  # fmt: skip

    status = sub.add_parser("status", parents=[store], help="job counts per state")
    status.add_argument("--queue", "-q", help="only this queue")

    jobs = sub.add_parser("jobs", parents=[store], help="list a queue's jobs")
    jobs.add_argument("queue")
    jobs.add_argument("--state", "-s", action="append", choices=STATES, help="(repeatable)")
    jobs.add_argument("--limit", "-n", type=int, default=20, help="at most this many (20)")

    add = sub.add_parser("add", parents=[store], help="add a job")
    add.add_argument("queue")
    add.add_argument("name")
    add.add_argument("data", nargs="?", default="{}", help="JSON payload ({})")
    # One flag per job option the option table puts on the command line; values stay
    # text here so that a bad one is reported in one line by _add.
    for option in OPTIONS:
        if option.cli is None:
            continue
        if option.cli.parse is None:
            add.add_argument(
                option.flag, dest=option.name, action="store_true",
                default=argparse.SUPPRESS, help=option.cli.help,
            )  # fmt: skip
        else:
            add.add_argument(
                option.flag, dest=option.name, metavar=option.cli.metavar,
                default=argparse.SUPPRESS, help=option.cli.help,
            )  # fmt: skip

    _cli_admin.add_parsers(sub, store)
    for verb, text in (
        ("remove", "remove jobs"),
        ("promote", "run delayed jobs now"),
    ):
        act = sub.add_parser(verb, parents=[store], help=text)
        act.add_argument("queue")
        act.add_argument("ids", nargs="+", metavar="ID")

    for verb, text in (("pause", "stop handing out jobs"), ("resume", "hand out jobs again")):
        act = sub.add_parser(verb, parents=[store], help=text)
        act.add_argument("queue")

    cancel = sub.add_parser(
        "cancel",
        parents=[store],
        help="cancel jobs",
        description=(
            "Cancel jobs: one not running yet fails at once; a running one is stopped "
            "by the worker holding it. Either way it ends failed with the reason "
            "'cancelled: REASON' and is not retried."
        ),
    )
    cancel.add_argument("queue")
    cancel.add_argument("ids", nargs="+", metavar="ID")
    cancel.add_argument("--reason", help="why (default: by request)")
    from corral._cli_dashboard import add_dashboard_parser

    add_dashboard_parser(sub, store)
    _cli_schedulers.add_parsers(sub, store)
    return parser


def _size(text: str) -> int:
    """A size in bytes: a whole number, optionally with K, M or G (powers of 1024)."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    cleaned = text.strip().upper().removesuffix("B").removesuffix("I")
    factor = units.get(cleaned[-1:], 1)
    number = cleaned[:-1] if cleaned[-1:] in units else cleaned
    try:
        value = int(number) * factor
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a size: {text!r} (a number of bytes, or with K, M or G: 512M)"
        ) from None
    return value


def _load_processor(spec: str) -> Callable[..., Any]:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"processor must look like 'package.module:function', got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"cannot import module {module_name!r} for {spec!r}: {exc}") from None
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise UsageError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not callable(target):
        raise UsageError(f"{spec!r} is not a function")
    return target  # type: ignore[no-any-return]


async def _worker(args: argparse.Namespace) -> None:
    from corral.worker import Worker

    processor: Any = _load_processor(args.processor)
    if args.processes is not None:
        processor = args.processor  # the children import it by its path
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    worker = Worker(
        args.queue, processor, url=args.url, prefix=args.prefix,
        concurrency=args.concurrency, lock_duration=args.lock_duration,
        stalled_interval=args.stalled_interval, max_stalled_count=args.max_stalled_count,
        name=args.name, processes=args.processes, max_jobs_per_child=args.max_jobs_per_child,
        max_memory_per_child=args.max_memory_per_child, timeout=args.timeout,
        max_started_attempts=args.max_started_attempts,
    )  # fmt: skip
    log = logging.getLogger("corral.cli")
    log.info(
        "worker for queue %r on %s: %s, concurrency %d%s (Ctrl-C to stop)",
        args.queue, worker.url, args.processor, worker.concurrency,
        "" if args.processes is None else f", {args.processes} child processes",
    )  # fmt: skip
    metrics = None
    if args.metrics_port is not None:
        from corral._cli_dashboard import serve_worker_metrics

        metrics = await serve_worker_metrics(worker, args, url=args.url, prefix=args.prefix)
    try:
        await worker.run(handle_signals=True, grace=args.grace)
    finally:
        await worker.close(grace=args.grace)
        if metrics is not None:
            await metrics()
    if worker.stopped_at_once:
        log.warning("worker stopped at once; jobs it held will stall back to the queue")
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        # A processor thread may still be busy; do not wait for it.
        os._exit(130)
    log.info("worker stopped")


async def queue_names(args: argparse.Namespace) -> list[str]:
    """The queue a command names (``args.queue``), else every queue of the store
    under ``--prefix``."""
    from corral.backends import open_backend

    if args.queue:
        return [args.queue]
    backend = open_backend(args.url, prefix=args.prefix)
    try:
        return await backend.list_queues()
    finally:
        await backend.close()


async def _status(args: argparse.Namespace) -> None:
    from corral.queue import Queue

    names = await queue_names(args)
    if not names:
        print("no queues")
        return
    header = ["queue", *STATES, "paused"]
    rows = [header]
    for name in names:
        async with Queue(name, url=args.url, prefix=args.prefix) as queue:
            counts = await queue.get_job_counts(*STATES)
            paused = await queue.is_paused()
        rows.append([name, *(str(counts[s]) for s in STATES), "yes" if paused else "no"])
    _print_table(rows)


async def _jobs(args: argparse.Namespace) -> None:
    from corral.queue import Queue

    if args.limit < 1:
        raise UsageError("--limit must be >= 1")
    states = args.state or list(STATES)
    async with Queue(args.queue, url=args.url, prefix=args.prefix) as queue:
        jobs = await queue.get_jobs(*states, end=args.limit - 1)
        rows = [["id", "name", "state", "attempts", "created", "flow", "reason / result"]]
        for job in jobs:
            state = await job.get_state()
            try:
                outcome = job.failed_reason or (
                    "" if job.return_value is None else json.dumps(job.return_value)
                )
            except CorralError as exc:
                outcome = f"<{exc}>"
            rows.append([
                job.id, job.name, state.value, str(job.attempts_made),
                job.timestamp.strftime("%Y-%m-%d %H:%M:%S"), await _flow_cell(job), outcome[:60],
            ])  # fmt: skip
    if len(rows) == 1:
        print(f"no jobs in {', '.join(states)}")
        return
    _print_table(rows)


async def _flow_cell(job: Job) -> str:
    """A job's place in a flow: its parent, and its children by bucket."""
    parts = [] if job.parent_key is None else [f"child of {job.parent_key}"]
    counts = await job.get_dependencies_count()
    if counts.processed or counts.unprocessed or counts.ignored or counts.failed:
        children = f"children: {counts.unprocessed} pending, {counts.processed} done"
        if counts.ignored:
            children += f", {counts.ignored} ignored"
        if counts.failed:
            children += f", {counts.failed} failed"
        parts.append(children)
    return "; ".join(parts)


def _job_options(args: argparse.Namespace) -> dict[str, Any]:
    """The job options given as ``corral add`` flags, parsed and checked."""
    options: dict[str, Any] = {}
    for option in OPTIONS:
        if option.cli is None or option.name not in args:
            continue
        given = getattr(args, option.name)
        if option.cli.parse is None:
            options[option.name] = given
            continue
        try:
            options[option.name] = option.cli.parse(given)
        except ValueError:
            raise UsageError(f"{option.flag} must be {option.cli.what}, got {given!r}") from None
    # Checked before the store is opened: bad input writes nothing, not even a file.
    JobOptions.build(**options)
    return options


async def _add(args: argparse.Namespace) -> None:
    from corral.queue import Queue

    try:
        data = json.loads(args.data)
    except ValueError as exc:
        raise UsageError(f'data must be JSON, e.g. \'{{"to": "a@example.com"}}\': {exc}') from None
    except RecursionError:
        raise UsageError("data is JSON nested too deeply to read") from None
    options = _job_options(args)
    async with Queue(args.queue, url=args.url, prefix=args.prefix) as queue:
        job = await queue.add(args.name, data, **options)
    print(job.id)


async def retry_ids(args: argparse.Namespace) -> None:
    """``corral retry Q ID ...``: the jobs given by id (see :mod:`corral._cli_admin`)."""
    await _act(args)


async def _act(args: argparse.Namespace) -> None:
    from corral.queue import Queue

    failures = 0
    async with Queue(args.queue, url=args.url, prefix=args.prefix) as queue:
        for job_id in args.ids:
            job = await queue.get_job(job_id)
            if job is None:
                print(f"{job_id}: no such job", file=sys.stderr)
                failures += 1
                continue
            try:
                if args.command == "retry":
                    await job.retry()
                elif args.command == "remove":
                    await job.remove()
                else:
                    await job.promote()
            except CorralError as exc:
                print(f"{job_id}: {exc}", file=sys.stderr)
                failures += 1
                continue
            print(f"{job_id}: {_DONE[args.command]}")
    if failures:
        raise CorralError(
            f"{failures} of {len(args.ids)} job(s) could not be {_DONE[args.command]}"
        )


async def _pause(args: argparse.Namespace) -> None:
    from corral.queue import Queue

    async with Queue(args.queue, url=args.url, prefix=args.prefix) as queue:
        if args.command == "pause":
            await queue.pause()
        else:
            await queue.resume()
    print(f"{args.queue}: {args.command}d")


async def _cancel(args: argparse.Namespace) -> None:
    from corral.queue import Queue

    refused = 0
    async with Queue(args.queue, url=args.url, prefix=args.prefix) as queue:
        for job_id in args.ids:
            answer = await queue.cancel(job_id, reason=args.reason)
            print(answer.message, file=sys.stdout if answer.accepted else sys.stderr)
            refused += not answer.accepted
    if refused:
        raise CorralError(f"{refused} of {len(args.ids)} job(s) could not be cancelled")


_DONE = {"retry": "retried", "remove": "removed", "promote": "promoted"}


def print_table(rows: list[list[str]]) -> None:
    """Print rows as left-aligned columns (the first row is the header)."""
    _print_table(rows)


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


_COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, None]]] = {
    "worker": _worker,
    "status": _status,
    "jobs": _jobs,
    "add": _add,
    **_cli_admin.COMMANDS,
    "remove": _act,
    "promote": _act,
    "pause": _pause,
    "resume": _pause,
    "cancel": _cancel,
    "dashboard": lambda args: _dashboard(args),
    **_cli_schedulers.COMMANDS,
}


async def _dashboard(args: argparse.Namespace) -> None:
    from corral._cli_dashboard import run_dashboard

    await run_dashboard(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if hasattr(args, "url"):
            args.url = _store_url(args)
        choice = getattr(args, "loop", None)
        if choice is not None:
            os.environ[_event_loop.ENV] = choice  # the worker's child processes too
        if args.command == "demo":
            from corral.demo import run_demo

            _event_loop.run(run_demo(args.url))
        else:
            _event_loop.run(_COMMANDS[args.command](args))
        return 0
    except KeyboardInterrupt:
        return 130
    except UsageError as exc:
        print(f"corral {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (CorralError, OSError, ValueError, TypeError) as exc:
        print(f"corral {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except RecursionError:
        print(f"corral {args.command}: error: a value is nested too deeply", file=sys.stderr)
        return 1


def _store_url(args: argparse.Namespace) -> str | None:
    """The URL from ``--url`` or ``--url-file`` (None: ``$CORRAL_URL`` or the default);
    warns when a password sits on the command line."""
    url: str | None = args.url
    path: str | None = getattr(args, "url_file", None)
    if path is not None:
        if url is not None:
            raise UsageError("give --url or --url-file, not both")
        try:
            with open(path, encoding="utf-8") as file:
                url = file.readline().strip()
        except OSError as exc:
            raise UsageError(f"cannot read --url-file {path!r}: {exc.strerror}") from None
        if not url:
            raise UsageError(f"--url-file {path!r} is empty; its first line must be the URL")
        return url
    if url is not None and any(mark in mask_url(url) for mark in (":***@", "=***", "#***")):
        print(
            f"corral {args.command}: warning: --url holds a password, which every user of "
            "this machine can read in the process list; pass the URL in $CORRAL_URL or "
            "--url-file PATH instead",
            file=sys.stderr,
        )
    return url


if __name__ == "__main__":
    sys.exit(main())
