"""A small asyncio Redis client, shaped for a job queue's traffic.

Why not a general client: a worker with 16 jobs in flight issues 16 small
script calls at once. Here they share **one connection** and are written
together in **one send** per event-loop turn (automatic pipelining); replies are
parsed by hiredis and matched to callers in order. There is no pool to check
out from and nothing per command but packing the arguments and one future.
Blocking commands (``BZPOPMIN``, ``XREAD BLOCK``) get a client of their own.

Failure model: when the connection drops, every command in flight fails with
:class:`RedisConnectionError` and the next command connects again. Commands are
never retried here, because a script that may have run must not run twice; the
caller decides.

URLs: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://…`` (TLS) and
``unix://[[user]:password@]/path.sock[?db=n]``. Query parameters: ``db``,
``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``, ``ssl_cert_reqs``
(``required`` | ``optional`` | ``none``), ``ssl_check_hostname`` (true/false),
``socket_connect_timeout`` (seconds).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import hiredis

from corral.errors import ConfigurationError

__all__ = [
    "RedisClient",
    "RedisConnectionError",
    "RedisReplyError",
    "pack_args",
    "pack_command",
    "parse_redis_url",
]


class RedisReplyError(Exception):
    """The server answered a command with an error (``-ERR …``, ``-NOSCRIPT …``)."""


class RedisConnectionError(ConnectionError):
    """The connection failed or dropped; the command's outcome is unknown."""


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """Where and how to connect, parsed from a URL."""

    host: str | None = "localhost"
    port: int = 6379
    path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = None
    ssl: ssl.SSLContext | None = None
    server_hostname: str | None = None
    connect_timeout: float = 10.0


def parse_redis_url(url: str) -> ConnectionSettings:
    """Read a ``redis://``, ``rediss://`` or ``unix://`` URL (see the module docstring)."""
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigurationError(
            f"a Redis URL starts with redis://, rediss:// or unix://, not {scheme}://"
        )
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    db_text = query.get("db")
    if scheme != "unix" and parts.path not in ("", "/"):
        db_text = parts.path.lstrip("/")
    try:
        db = int(db_text) if db_text else 0
        port = parts.port or 6379
        timeout = float(query.get("socket_connect_timeout", 10))
    except ValueError as exc:
        raise ConfigurationError(f"bad Redis URL ({exc}): use redis://host:port/db") from None
    if db < 0:
        raise ConfigurationError("the Redis database number must be >= 0")
    context = _ssl_context(query) if scheme == "rediss" else None
    if scheme == "unix":
        if not parts.path:
            raise ConfigurationError("a unix:// Redis URL needs a socket path: unix:///path.sock")
        return ConnectionSettings(
            host=None, path=parts.path, db=db, username=username, password=password,
            connect_timeout=timeout,
        )  # fmt: skip
    host = parts.hostname or "localhost"
    return ConnectionSettings(
        host=host, port=port, db=db, username=username, password=password, ssl=context,
        server_hostname=host if context is not None else None, connect_timeout=timeout,
    )  # fmt: skip


def _ssl_context(query: dict[str, str]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=query.get("ssl_ca_certs"))
    requirement = query.get("ssl_cert_reqs", "required").lower()
    modes = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}
    if requirement not in modes:
        raise ConfigurationError(
            f"ssl_cert_reqs must be required, optional or none, not {requirement!r}"
        )
    check = query.get("ssl_check_hostname", "true" if requirement == "required" else "false")
    context.check_hostname = check.lower() in ("1", "true", "yes")
    context.verify_mode = modes[requirement]
    if "ssl_certfile" in query:
        context.load_cert_chain(query["ssl_certfile"], query.get("ssl_keyfile"))
    return context


def pack_command(args: Sequence[Any]) -> bytes:
    """Encode one command in RESP: an array of bulk strings."""
    return b"*%d\r\n%s" % (len(args), pack_args(args))


def pack_args(args: Sequence[Any]) -> bytes:
    """RESP bulk strings for ``args``, without the array header (so a fixed part
    of a command, like a script's SHA and keys, can be packed once and reused)."""
    out = []
    for arg in args:
        kind = type(arg)
        if kind is str:
            data = arg.encode()
        elif kind is int:
            data = b"%d" % arg
        elif kind is bytes:
            data = arg
        elif isinstance(arg, bool):
            data = b"1" if arg else b"0"
        elif isinstance(arg, int):
            data = b"%d" % int(arg)
        elif isinstance(arg, float):
            data = repr(float(arg)).encode()
        elif isinstance(arg, str):
            data = str(arg).encode()
        elif isinstance(arg, bytes | bytearray | memoryview):
            data = bytes(arg)
        else:
            raise TypeError(f"cannot send {type(arg).__name__} to Redis")
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Protocol(asyncio.Protocol):
    """One connection: writes are batched per loop turn, replies matched in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._reader = hiredis.Reader(
            replyError=RedisReplyError, encoding="utf-8", errors="replace"
        )
        self._pending: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._outgoing: list[bytes] = []
        self._flush_scheduled = False
        self._transport: asyncio.Transport | None = None
        self.lost: BaseException | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        pending = self._pending
        reader.feed(data)
        try:
            while (reply := reader.gets()) is not False:
                future = pending.popleft()
                if future.done():
                    continue  # the caller gave up (cancelled); order is kept regardless
                if isinstance(reply, RedisReplyError):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        except hiredis.ProtocolError as exc:
            self._fail(RedisConnectionError(f"Redis protocol error: {exc}"))
            if self._transport is not None:
                self._transport.abort()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed = True
        reason = f"connection to Redis lost: {exc}" if exc else "connection to Redis closed"
        self._fail(RedisConnectionError(reason))

    def _fail(self, error: BaseException) -> None:
        self.lost = error
        self.closed = True
        while self._pending:
            future = self._pending.popleft()
            if not future.done():
                future.set_exception(error)

    def send(self, packed: bytes) -> asyncio.Future[Any]:
        future = self._loop.create_future()
        if self.closed:
            future.set_exception(self.lost or RedisConnectionError("connection to Redis closed"))
            return future
        self._pending.append(future)
        self._outgoing.append(packed)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._outgoing and self._transport is not None and not self.closed:
            data = b"".join(self._outgoing) if len(self._outgoing) > 1 else self._outgoing[0]
            self._outgoing.clear()
            self._transport.write(data)

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()


class RedisClient:
    """A lazily connected, self-healing, pipelining connection to one Redis server.

    ``name`` is set with ``CLIENT SETNAME`` on every (re)connect. Safe to share
    between coroutines of one event loop.
    """

    def __init__(self, url: str, *, name: str | None = None) -> None:
        self._settings = parse_redis_url(url)
        self._name = name
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None
        self._closed = False

    async def _connect(self) -> _Protocol:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            protocol = self._protocol
            if protocol is not None and not protocol.closed:
                return protocol
            if self._closed:
                raise RedisConnectionError("this Redis client is closed")
            self._protocol = await self._open()
            return self._protocol

    async def _open(self) -> _Protocol:
        settings = self._settings
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(settings.connect_timeout):
                if settings.path is not None:
                    _, protocol = await loop.create_unix_connection(
                        lambda: _Protocol(loop), settings.path
                    )
                else:
                    _, protocol = await loop.create_connection(
                        lambda: _Protocol(loop),
                        settings.host or "localhost",
                        settings.port,
                        ssl=settings.ssl,
                        server_hostname=settings.server_hostname,
                    )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            where = settings.path or f"{settings.host}:{settings.port}"
            raise RedisConnectionError(f"cannot connect to Redis at {where}: {exc}") from None
        try:
            if settings.password is not None:
                auth = (
                    ("AUTH", settings.username, settings.password)
                    if settings.username
                    else ("AUTH", settings.password)
                )
                await protocol.send(pack_command(auth))
            if settings.db:
                await protocol.send(pack_command(("SELECT", settings.db)))
            if self._name:
                await protocol.send(pack_command(("CLIENT", "SETNAME", self._name)))
        except RedisReplyError as exc:
            protocol.close()
            # The server's text, never the password, goes into the message.
            raise RedisReplyError(f"Redis refused the connection setup: {exc}") from None
        return protocol

    async def execute(self, *args: Any) -> Any:
        """Send one command and return its reply (strings decoded as UTF-8)."""
        protocol = self._protocol
        if protocol is None or protocol.closed:
            protocol = await self._connect()
        return await protocol.send(pack_command(args))

    async def execute_with_head(self, head: tuple[int, bytes], args: Sequence[Any]) -> Any:
        """Send a command whose first ``head[0]`` arguments are pre-packed as ``head[1]``
        (see :func:`pack_args`), followed by ``args``."""
        protocol = self._protocol
        if protocol is None or protocol.closed:
            protocol = await self._connect()
        count, packed = head
        return await protocol.send(b"*%d\r\n%s%s" % (count + len(args), packed, pack_args(args)))

    async def execute_many(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Send several commands back to back (nothing else comes between them, so
        ``MULTI`` … ``EXEC`` is safe) and return every reply."""
        protocol = self._protocol
        if protocol is None or protocol.closed:
            protocol = await self._connect()
        futures = [protocol.send(pack_command(c)) for c in commands]
        return list(await asyncio.gather(*futures))

    async def close(self) -> None:
        """Close the connection; later commands fail. Safe to call more than once."""
        self._closed = True
        if self._protocol is not None:
            self._protocol.close()
            self._protocol = None
