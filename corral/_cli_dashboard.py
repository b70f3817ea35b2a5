"""``corral dashboard`` and ``corral worker --metrics-port``: the command line's web parts.

Kept apart from :mod:`corral.cli` so that the other commands never import the web
stack. The dashboard binds to 127.0.0.1 unless told otherwise, and refuses any
other address without credentials (``--auth``/``--auth-token``, or their
environment variables, which keep the secret out of the process list) unless
``--insecure`` says that is really meant.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from corral.errors import MissingDependency

if TYPE_CHECKING:
    from corral.worker import Worker

__all__ = ["add_dashboard_parser", "is_loopback", "run_dashboard", "serve_worker_metrics"]

AUTH_ENV = "CORRAL_DASHBOARD_AUTH"
TOKEN_ENV = "CORRAL_DASHBOARD_TOKEN"
METRICS_REFRESH_S = 5.0
"""How often a worker's metrics server re-reads its queue's counts."""


def add_dashboard_parser(sub: Any, store: argparse.ArgumentParser) -> None:
    """Add the ``dashboard`` command to the CLI's subparsers."""
    dash = sub.add_parser(
        "dashboard",
        parents=[store],
        help="serve the web dashboard",
        description=(
            "See and steer the store's queues in a browser. Binds to 127.0.0.1; any "
            f"other address needs --auth or --auth-token (or ${AUTH_ENV} / ${TOKEN_ENV}), "
            "or --insecure."
        ),
    )
    dash.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    dash.add_argument("--port", type=int, default=8080, help="port to listen on (8080)")
    dash.add_argument("--queue", "-q", action="append", help="show only this queue (repeatable)")
    dash.add_argument("--read-only", action="store_true", help="offer no action on jobs or queues")
    dash.add_argument(
        "--auth", metavar="USER:PASSWORD", help=f"require HTTP Basic credentials (or ${AUTH_ENV})"
    )
    dash.add_argument(
        "--auth-token", metavar="TOKEN",
        help=f"require this token, as a Bearer token or Basic password (or ${TOKEN_ENV})",
    )  # fmt: skip
    dash.add_argument(
        "--insecure", action="store_true",
        help="allow a non-loopback address without credentials",
    )  # fmt: skip
    dash.add_argument("--log-level", default="info", help="uvicorn's log level (info)")


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def run_dashboard(args: argparse.Namespace) -> None:
    """Serve the dashboard until SIGINT/SIGTERM."""
    from corral.cli import UsageError

    auth = args.auth or os.environ.get(AUTH_ENV) or None
    token = args.auth_token or os.environ.get(TOKEN_ENV) or None
    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be between 1 and 65535, got {args.port}")
    if not is_loopback(args.host) and auth is None and token is None and not args.insecure:
        raise UsageError(
            f"refusing to serve the dashboard on {args.host}, which other machines can reach, "
            "without credentials: give --auth USER:PASSWORD or --auth-token TOKEN (or "
            f"${AUTH_ENV} / ${TOKEN_ENV}), or --insecure if that is really meant"
        )
    try:
        import uvicorn

        from corral.dashboard import create_app
    except ImportError as exc:
        raise MissingDependency(
            f"corral dashboard needs Starlette and uvicorn: pip install 'corral[dashboard]' ({exc})"
        ) from None
    try:
        app = create_app(
            args.url, prefix=args.prefix, queues=args.queue, read_only=args.read_only,
            auth=auth, token=token,
        )  # fmt: skip
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level=args.log_level.lower(),
        lifespan="on", timeout_graceful_shutdown=3, access_log=False,
    )  # fmt: skip
    server = uvicorn.Server(config)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"corral dashboard for {app.state.corral.data.connection.url} on "
        f"http://{shown}:{args.port}/" + (" (read-only)" if args.read_only else ""),
        flush=True,
    )
    await server.serve()
    if not server.started:
        raise OSError(f"could not listen on {args.host}:{args.port}")


async def serve_worker_metrics(
    worker: Worker, args: argparse.Namespace, *, url: str | None, prefix: str
) -> Callable[[], Awaitable[None]]:
    """Serve ``worker``'s Prometheus metrics (and its queue's counts) on
    ``--metrics-host:--metrics-port``; returns the coroutine function that stops it."""
    from corral.cli import UsageError

    try:
        from prometheus_client import CollectorRegistry, start_http_server

        from corral.prometheus import QueueCollector, WorkerMetrics
    except ImportError:
        raise MissingDependency(
            "--metrics-port needs the prometheus_client package: pip install 'corral[metrics]'"
        ) from None
    if not 0 < args.metrics_port < 65536:
        raise UsageError(f"--metrics-port must be between 1 and 65535, got {args.metrics_port}")
    registry = CollectorRegistry()
    WorkerMetrics(registry).instrument(worker)
    collector = QueueCollector(url, prefix=prefix, queues=[worker.queue_name])
    registry.register(collector)
    server, thread = start_http_server(args.metrics_port, addr=args.metrics_host, registry=registry)
    print(
        f"corral worker: metrics on http://{args.metrics_host}:{args.metrics_port}/metrics",
        file=sys.stderr,
        flush=True,
    )

    async def refresh() -> None:
        while True:
            with contextlib.suppress(Exception):  # the store is down: keep the last counts
                await collector.refresh()
            await asyncio.sleep(METRICS_REFRESH_S)

    task = asyncio.create_task(refresh(), name="corral-worker-metrics")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        await collector.close()

    return stop
