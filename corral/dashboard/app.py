"""The dashboard's ASGI app: routes, JSON answers and the app factory.

| route | what |
|---|---|
| ``GET /`` | the page (``static/index.html``; the rest of ``static/`` under ``/static/``) |
| ``GET /api/config`` | read-only or not, the anti-forgery token, the store (masked) |
| ``GET /api/queues`` | every queue at a glance |
| ``GET /api/queue?queue=Q`` | one queue at a glance |
| ``GET /api/jobs?queue=Q&state=S&start=N&size=N&search=T`` | a page of a queue's jobs |
| ``GET /api/job?queue=Q&id=ID`` | one job, everything about it |
| ``GET /api/schedulers?queue=Q&start=N&size=N`` | a page of a queue's job schedulers |
| ``GET /api/workers?queue=Q`` | the workers taking a queue's jobs now |
| ``POST /api/job/{retry,promote,cancel,remove}`` | ``{"queue", "id"}``: act on a job |
| ``POST /api/queue/{pause,resume,retry-all,promote-all}`` | ``{"queue"}``: act on a queue |
| ``POST /api/queue/clean`` | ``{"queue", "state", "grace", "limit"}``: remove old jobs |
| ``POST /api/queue/drain`` | ``{"queue", "delayed"}``: remove every job that waits |
| ``GET /api/events?queue=Q…`` | Server-Sent Events: the named queues' events, live |
| ``GET /metrics`` | Prometheus metrics of every queue shown |

Queue and job names travel in query strings and bodies, never in the path, so
any name works. Errors answer ``{"error": "..."}`` with 400 (bad input), 404 (no
such queue or job), 409 (the job is not in a state the action takes) or 503 (the
store does not answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corral.errors import MissingDependency

try:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependency(
        "the corral dashboard needs Starlette and uvicorn: pip install 'corral[dashboard]'"
    ) from exc

from corral._version import __version__
from corral.backends.keyspace import validate_prefix
from corral.connection import Connection
from corral.dashboard.data import (
    JOB_ACTIONS,
    LIST_STATES,
    MAX_PAGE,
    QUEUE_ACTIONS,
    DashboardData,
    NotFound,
)
from corral.dashboard.live import EventHub
from corral.dashboard.security import Credentials, Guard, parse_auth
from corral.errors import CorralError, JobStateError, StoreUnavailableError

__all__ = ["DashboardState", "create_app"]

STATIC = Path(__file__).parent / "static"

HEARTBEAT_S = 15.0
"""How often an idle event stream sends a comment, so proxies keep it open."""

MAX_WATCHED = 100
"""The most queues one event stream follows."""


@dataclass
class DashboardState:
    """What one dashboard app holds (``app.state.corral``)."""

    data: DashboardData
    hub: EventHub
    read_only: bool
    csrf_token: str
    owns_connection: bool
    metrics: Any = None
    """The Prometheus registry and collector, when ``prometheus_client`` is installed."""
    closed: bool = field(default=False)

    async def close(self) -> None:
        """Stop the live readers and close the connection the app opened (a given
        one stays open). A mounted app is not told when its host stops: call this
        from the host's shutdown."""
        if self.closed:
            return
        self.closed = True
        await self.hub.close()
        await self.data.close()
        if self.owns_connection:
            await self.data.connection.close()


def create_app(
    url: str | None = None,
    *,
    prefix: str = "bull",
    connection: Connection | None = None,
    queues: Sequence[str] | None = None,
    read_only: bool = False,
    auth: str | None = None,
    token: str | None = None,
) -> Starlette:
    """The dashboard as an ASGI (Starlette) application.

    - ``url`` / ``connection``: the store, as for :class:`~corral.Queue` (None:
      ``$CORRAL_URL``, else ``sqlite:///corral.db``); a given
      :class:`~corral.Connection` is left open when the app stops.
    - ``prefix``: the queues' key prefix (``bull``).
    - ``queues``: show only these queues (None: every queue of the store).
    - ``read_only``: offer and accept no action.
    - ``auth``: ``"user:password"`` every request must present (HTTP Basic);
      ``token``: a secret accepted as ``Authorization: Bearer <token>`` or as the
      Basic password. Neither: no credentials are asked (bind to loopback).
    """
    validate_prefix(prefix)
    if connection is not None and url is not None:
        raise ValueError("give either url= or connection=, not both")
    user_password = parse_auth(auth)
    if token is not None and (not isinstance(token, str) or len(token) < 16):
        raise ValueError("token must be a string of at least 16 characters")
    owns = connection is None
    conn = Connection(url) if connection is None else connection
    data = DashboardData(conn, prefix=prefix, queues=None if queues is None else list(queues))
    state = DashboardState(
        data=data,
        hub=EventHub(conn.backend(prefix)),
        read_only=bool(read_only),
        csrf_token=secrets.token_urlsafe(32),
        owns_connection=owns,
        metrics=_metrics(conn, prefix, data),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await state.close()

    routes = [
        Route("/", _index),
        Route("/api/config", _api(_config)),
        Route("/api/queues", _api(_queues)),
        Route("/api/queue", _api(_queue)),
        Route("/api/jobs", _api(_jobs)),
        Route("/api/job", _api(_job)),
        Route("/api/schedulers", _api(_schedulers)),
        Route("/api/workers", _api(_workers)),
        Route("/api/job/{action}", _api(_job_action), methods=["POST"]),
        Route("/api/queue/{action}", _api(_queue_action), methods=["POST"]),
        Route("/api/events", _events),
        Route("/metrics", _metrics_route),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.corral = state
    app.add_middleware(
        Guard,
        credentials=Credentials(
            user=None if user_password is None else user_password[0],
            password=None if user_password is None else user_password[1],
            token=token,
        ),
        csrf_token=state.csrf_token,
        read_only=state.read_only,
    )
    return app


def _metrics(conn: Connection, prefix: str, data: DashboardData) -> Any:
    try:
        from prometheus_client import CollectorRegistry

        from corral.prometheus import QueueCollector
    except ImportError:  # pragma: no cover - prometheus_client comes with the extra
        return None
    registry = CollectorRegistry()
    collector = QueueCollector(connection=conn, prefix=prefix, queues=data.only)
    registry.register(collector)
    return registry, collector


def _state(request: Request) -> DashboardState:
    state: DashboardState = request.app.state.corral
    return state


Handler = Callable[[Request, DashboardState], Awaitable[Any]]


def _api(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A JSON endpoint: the handler's dict as JSON, its errors as ``{"error"}``."""

    async def endpoint(request: Request) -> Response:
        try:
            return JSONResponse(await handler(request, _state(request)))
        except NotFound as exc:
            return _error(404, str(exc))
        except JobStateError as exc:
            return _error(409, str(exc))
        except StoreUnavailableError as exc:
            return _error(503, str(exc))
        except (ValueError, TypeError) as exc:
            return _error(400, str(exc))
        except CorralError as exc:
            return _error(409, str(exc))

    endpoint.__name__ = handler.__name__
    return endpoint


def _error(status: int, text: str) -> Response:
    return JSONResponse({"error": text}, status_code=status)


async def _index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers={"cache-control": "no-store"})


async def _config(request: Request, state: DashboardState) -> dict[str, Any]:
    return {
        "version": __version__,
        "store": state.data.connection.url,
        "prefix": state.data.prefix,
        "read_only": state.read_only,
        "csrf_token": state.csrf_token,
        "states": list(LIST_STATES),
        "page_max": MAX_PAGE,
        "job_actions": [] if state.read_only else list(JOB_ACTIONS),
        "queue_actions": [] if state.read_only else list(QUEUE_ACTIONS),
    }


async def _queues(request: Request, state: DashboardState) -> dict[str, Any]:
    return await state.data.overview()


def _query(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if value is None or value == "":
        raise ValueError(f"the request needs ?{name}=")
    return value


def _int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None


async def _queue(request: Request, state: DashboardState) -> dict[str, Any]:
    return await state.data.summary(_query(request, "queue"))


async def _jobs(request: Request, state: DashboardState) -> dict[str, Any]:
    return await state.data.jobs(
        _query(request, "queue"),
        request.query_params.get("state") or "waiting",
        start=_int(request, "start", 0),
        size=_int(request, "size", 25),
        search=request.query_params.get("search", ""),
    )


async def _schedulers(request: Request, state: DashboardState) -> dict[str, Any]:
    return await state.data.schedulers(
        _query(request, "queue"), start=_int(request, "start", 0), size=_int(request, "size", 25)
    )


async def _workers(request: Request, state: DashboardState) -> dict[str, Any]:
    return await state.data.workers(_query(request, "queue"))


async def _job(request: Request, state: DashboardState) -> dict[str, Any]:
    detail = await state.data.job(_query(request, "queue"), _query(request, "id"))
    if state.read_only:
        detail["actions"] = []
    return detail


async def _body(request: Request, *names: str) -> list[str]:
    body = await _object(request)
    values = []
    for name in names:
        value = body.get(name)
        if not isinstance(value, str) or not value:
            raise ValueError(f"the request body needs {name!r} (a string)")
        values.append(value)
    return values


async def _object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise ValueError("the request body must be JSON") from None
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    return body


async def _job_action(request: Request, state: DashboardState) -> dict[str, Any]:
    queue, job_id = await _body(request, "queue", "id")
    return await state.data.act_on_job(queue, job_id, request.path_params["action"])


async def _queue_action(request: Request, state: DashboardState) -> dict[str, Any]:
    (queue,) = await _body(request, "queue")
    options = await _object(request)
    return await state.data.act_on_queue(queue, request.path_params["action"], options)


async def _events(request: Request) -> Response:
    state = _state(request)
    names = request.query_params.getlist("queue")
    try:
        if not names:
            names = await state.data.queue_names()
        for name in names:
            state.data.queue(name)
    except NotFound as exc:
        return _error(404, str(exc))
    except (ValueError, TypeError) as exc:
        return _error(400, str(exc))
    if len(names) > MAX_WATCHED:
        return _error(400, f"an event stream follows at most {MAX_WATCHED} queues")

    async def stream() -> AsyncIterator[str]:
        async with state.hub.subscribe(names) as inbox:
            yield "retry: 2000\n\n"
            while True:
                try:
                    first = await asyncio.wait_for(inbox.get(), timeout=HEARTBEAT_S)
                except TimeoutError:
                    yield ": idle\n\n"
                    continue
                batch = [first]
                while not inbox.empty() and len(batch) < 100:
                    batch.append(inbox.get_nowait())
                yield f"data: {json.dumps(batch)}\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


async def _metrics_route(request: Request) -> Response:
    state = _state(request)
    if state.metrics is None:  # pragma: no cover - prometheus_client comes with the extra
        return _error(501, "metrics need prometheus_client: pip install 'corral[dashboard]'")
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    registry, collector = state.metrics
    try:
        await collector.refresh(await state.data.queue_names())
    except StoreUnavailableError as exc:
        return _error(503, str(exc))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
