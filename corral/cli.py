"""The ``corral`` command line.

```
corral demo [--url URL]        run the manual-fetching demo (embedded SQLite by default)
corral --version
```

Errors are reported on one line with exit status 2 (bad usage) or 1 (the
operation failed), never with a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from corral._version import __version__
from corral.errors import CorralError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="corral", description="corral: a reliable job queue with BullMQ's model."
    )
    parser.add_argument("--version", action="version", version=f"corral {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run the manual-fetching demo end to end",
        description=(
            "Add jobs, fetch them by hand with tokens, extend locks, complete and fail "
            "them, recover a dead worker's job with the stalled checker, rate limit the "
            "queue and move a job back to wait. Uses a temporary SQLite file unless --url."
        ),
    )
    demo.add_argument("--url", help="run against this store, e.g. redis://localhost:6379/0")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "demo":
            from corral.demo import run_demo

            asyncio.run(run_demo(args.url))
            return 0
    except KeyboardInterrupt:
        return 130
    except (CorralError, OSError, ValueError, TypeError) as exc:
        print(f"corral {args.command}: error: {exc}", file=sys.stderr)
        return 1
    parser.error(f"unknown command {args.command!r}")
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
