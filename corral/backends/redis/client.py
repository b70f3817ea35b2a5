"""A small asyncio Redis client, shaped for a job queue's traffic.

Why not a general client: a worker with 16 jobs in flight issues 16 small
script calls at once. Here they share **one connection** and are written
together in **one send** per event-loop turn (automatic pipelining), or per
:data:`WRITE_AT` commands when more are issued in one turn (so Redis starts on
the first ones while the rest are being prepared); replies are parsed by
hiredis and matched to callers in order. A command sent while nothing is in
flight is written at once: the server is idle, there is nothing to batch it with. There is no pool to check
out from and nothing per command but packing the arguments and one future.
Blocking commands (``BZPOPMIN``, ``XREAD BLOCK``) get a client of their own.

Failure model: when the connection drops, every command in flight fails with
:class:`RedisConnectionError` and the next command connects again. Commands are
never retried here, because a script that may have run must not run twice; the
caller decides.

A dead peer is noticed two ways. A **command timeout**: one watchdog timer per
connection, running only while replies are awaited, aborts the connection when
the oldest awaited reply has made no progress for ``socket_timeout`` seconds
(a blocking command is allowed its block time on top), so every caller in
flight learns "outcome unknown"; nothing is timed per command. And **TCP
keepalive** on every TCP connection, for a peer that vanished while idle.

The URLs it reads are described in :mod:`.settings`. It speaks RESP2 to one
standalone server (no Cluster, no Sentinel); other setups can be served by
another :class:`~corral.backends.redis.connection.RedisConnection`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import hiredis

from corral.backends.redis.connection import (
    CommandHead,
    RedisConnectionError,
    RedisReplyError,
)
from corral.backends.redis.settings import ConnectionSettings, parse_redis_url
from corral.backends.redis.tls import (
    HANDSHAKE_TIMEOUT_HINT,
    closed_before_reply_hint,
    tls_hint,
)

__all__ = [
    "WRITE_AT",
    "ConnectionSettings",
    "RedisClient",
    "RedisConnectionError",
    "RedisReplyError",
    "enable_keepalive",
    "pack_args",
    "pack_command",
    "parse_redis_url",
]

_KEEPALIVE = (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3))
"""Probe an idle connection after 30 s, every 10 s, and drop it after 3 unanswered
probes: a vanished peer is noticed in about a minute instead of hours."""


def pack_command(args: Sequence[Any]) -> bytes:
    """Encode one command in RESP: an array of bulk strings."""
    try:
        return _pack(args if type(args) is tuple else tuple(args))
    except TypeError:  # a type hiredis does not pack (bool, an int subclass, ...)
        return b"*%d\r\n%s" % (len(args), _pack_args_each(args))


def pack_args(args: Sequence[Any]) -> bytes:
    """RESP bulk strings for ``args``, without the array header (so a fixed part
    of a command, like a script's SHA and keys, can be packed once and reused)."""
    try:
        packed = _pack(args if type(args) is tuple else tuple(args))
    except TypeError:  # a type hiredis does not pack (bool, an int subclass, ...)
        return _pack_args_each(args)
    return packed[packed.index(b"\n") + 1 :]


def _with_head(head: CommandHead, args: Sequence[Any]) -> bytes:
    """The RESP of ``head`` (packed once) followed by ``args``."""
    count, packed, _ = head
    return b"*%d\r\n%s%s" % (count + len(args), packed, pack_args(args))


_pack: Callable[[tuple[Any, ...]], bytes] = hiredis.pack_command
"""hiredis's packer (C): str as UTF-8, int, float as ``repr``, bytes; the same bytes
as :func:`_pack_args_each` for those types."""


def _pack_args_each(args: Sequence[Any]) -> bytes:
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


def enable_keepalive(sock: socket.socket) -> None:
    """Turn on TCP keepalive for ``sock``, with the platform's tuning where it has it."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    options = _KEEPALIVE
    if not hasattr(socket, "TCP_KEEPIDLE"):  # macOS names the idle time TCP_KEEPALIVE
        options = (("TCP_KEEPALIVE", 30), *options[1:])
    for name, value in options:
        option = getattr(socket, name, None)
        if option is not None:
            with contextlib.suppress(OSError):  # an unusual platform may refuse one
                sock.setsockopt(socket.IPPROTO_TCP, option, value)


WRITE_AT = 8
"""Commands waiting to be written are written at once when there are this many,
instead of at the end of the event loop's turn: a worker with 16 jobs in flight
then sends them as two groups, and the server works on the first while the
worker prepares the second, so neither waits for the other in turn."""

_LAST_ARG_BLOCKS = frozenset({"BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX", "BRPOPLPUSH", "BLMOVE"})
_BLOCK_OPTION = frozenset({"XREAD", "XREADGROUP"})


def block_seconds(args: Sequence[Any]) -> float | None:
    """How long the blocking command ``args`` may block the server's reply, in
    seconds; ``math.inf`` for "for ever" (0); None when it does not block."""
    name = str(args[0]).upper()
    try:
        if name in _LAST_ARG_BLOCKS:
            seconds = float(args[-1])
        elif name in _BLOCK_OPTION:
            words = [str(a).upper() for a in args]
            if "BLOCK" not in words:
                return None
            seconds = float(args[words.index("BLOCK") + 1]) / 1000
        else:
            return None
    except (ValueError, IndexError):
        return None  # malformed: the server will say so at once
    return seconds if seconds > 0 else math.inf


class Replied:
    """A reply handed straight to a function, in place of a future: the function
    runs as the reply is read, on the same turn of the event loop (a future's
    done-callback would run on the next one). It stands where a future stands in
    the protocol's queue of awaited replies, so it has the few methods used there.
    """

    __slots__ = ("_called", "_on_reply")

    def __init__(self, on_reply: Callable[[Any, BaseException | None], None]) -> None:
        self._on_reply = on_reply
        self._called = False

    def done(self) -> bool:
        """Whether the reply (or the connection's failure) was handed over."""
        return self._called

    def set_result(self, reply: Any) -> None:
        """Hand ``reply`` over."""
        self._hand_over(reply, None)

    def set_exception(self, error: BaseException) -> None:
        """Hand ``error`` over (a refusal, or the connection's failure)."""
        self._hand_over(None, error)

    def _hand_over(self, reply: Any, error: BaseException | None) -> None:
        self._called = True
        try:
            self._on_reply(reply, error)
        except Exception as exc:  # the reader must go on with the next replies
            asyncio.get_running_loop().call_exception_handler(
                {"message": "corral: a Redis reply's handler failed", "exception": exc}
            )


_Waiter = asyncio.Future[Any] | Replied
"""Where an awaited reply goes."""


class _Protocol(asyncio.Protocol):
    """One connection: writes are batched per loop turn, replies matched in order.

    The watchdog is one timer per connection, running only while replies are
    awaited. Each tick it looks at the oldest awaited reply (the one the server
    is working on); when no byte has arrived and that reply has stayed the
    oldest for longer than its allowance (``timeout``, plus the block time for a
    blocking command), the connection is dropped and every caller in flight
    fails with "outcome unknown". The hot path pays one counter increment per
    read and one attribute test per send.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self._loop = loop
        self._reader = hiredis.Reader(
            replyError=RedisReplyError, encoding="utf-8", errors="replace"
        )
        self._pending: collections.deque[_Waiter] = collections.deque()
        self._outgoing: list[bytes] = []
        self._flush_scheduled = False
        self._transport: asyncio.Transport | None = None
        self.lost: BaseException | None = None
        self.closed = False
        self._timeout = timeout
        self._tick = min(timeout / 4, 1.0)
        self._watchdog: asyncio.TimerHandle | None = None
        self._reads = 0
        """How many times bytes arrived: the watchdog's sign of life."""
        self._seen: tuple[int, _Waiter | None] = (0, None)
        self._quiet_since = 0.0
        self._blocking: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        """Blocking commands in flight, oldest first, with their allowance (s)."""
        self.client_id: int | None = None
        """The server's id of this connection (``CLIENT ID``), once asked for."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        pending = self._pending
        self._reads += 1
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
        if self._pending and not self._reads:  # the server hung up before its first reply
            transport = self._transport
            tls = transport is not None and transport.get_extra_info("sslcontext") is not None
            reason += tls_hint(reason) or closed_before_reply_hint(tls)
        self._fail(RedisConnectionError(reason))

    def _fail(self, error: BaseException) -> None:
        if self.lost is None:
            self.lost = error
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._blocking.clear()
        while self._pending:
            future = self._pending.popleft()
            if not future.done():
                future.set_exception(error)

    def send(self, packed: bytes) -> asyncio.Future[Any]:
        """Send one packed command; the future of its reply."""
        future = self._loop.create_future()
        self._send(packed, future)
        return future

    def send_replied(self, packed: bytes, replied: Replied) -> None:
        """Send one packed command whose reply goes to ``replied``."""
        self._send(packed, replied)

    def _send(self, packed: bytes, future: _Waiter) -> None:
        if self.closed:
            future.set_exception(self.lost or RedisConnectionError("connection to Redis closed"))
            return
        pending = self._pending
        outgoing = self._outgoing
        if not pending and not outgoing and self._transport is not None:
            # Nothing in flight: the server is idle, so waiting for the end of the
            # turn gains nothing and costs a loop turn (on every job at concurrency
            # 1, and on the fetch after a wake-up). Commands sent later in this turn
            # are batched as usual.
            pending.append(future)
            self._transport.write(packed)
        else:
            pending.append(future)
            outgoing.append(packed)
            if len(outgoing) >= WRITE_AT:
                self._write()
            elif not self._flush_scheduled:
                self._flush_scheduled = True
                self._loop.call_soon(self._flush)
        if self._watchdog is None:
            self._start_watchdog()

    def send_blocking(self, packed: bytes, block: float) -> asyncio.Future[Any]:
        """:meth:`send` a command that may block for ``block`` seconds (inf: for ever)."""
        future = self.send(packed)
        if not self.closed:
            self._blocking.append((future, block + self._timeout))
        return future

    def _start_watchdog(self) -> None:
        self._seen = (self._reads, self._pending[0])
        self._quiet_since = self._loop.time()
        self._watchdog = self._loop.call_later(self._tick, self._watch)

    def _watch(self) -> None:
        pending = self._pending
        if not pending or self.closed:
            self._watchdog = None
            return
        now = self._loop.time()
        head = pending[0]
        seen = (self._reads, head)
        if seen != self._seen:
            self._seen, self._quiet_since = seen, now
        else:
            allowance = self._allowance(head)
            if now - self._quiet_since >= allowance:
                self._watchdog = None
                self._fail(
                    RedisConnectionError(
                        f"Redis did not answer within {allowance:g}s (socket_timeout); "
                        "the connection was dropped and the outcome of the commands in "
                        "flight is unknown"
                    )
                )
                if self._transport is not None:
                    self._transport.abort()
                return
        self._watchdog = self._loop.call_later(self._tick, self._watch)

    def _allowance(self, head: _Waiter) -> float:
        blocking = self._blocking
        # Forget blocking commands already answered (they are no longer pending).
        while blocking and blocking[0][0] is not head and blocking[0][0] not in self._pending:
            blocking.popleft()
        if blocking and blocking[0][0] is head:
            return blocking[0][1]
        return self._timeout

    def _flush(self) -> None:
        self._flush_scheduled = False
        self._write()

    def _write(self) -> None:
        if self._outgoing and self._transport is not None and not self.closed:
            data = b"".join(self._outgoing) if len(self._outgoing) > 1 else self._outgoing[0]
            self._outgoing.clear()
            self._transport.write(data)

    def close(self) -> None:
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._transport is not None:
            self._transport.close()


class RedisClient:
    """A lazily connected, self-healing, pipelining connection to one Redis server:
    corral's :class:`~corral.backends.redis.connection.RedisConnection`.

    ``url`` is a URL (see :mod:`.settings`) or settings already read from one;
    ``name`` is set with ``CLIENT SETNAME`` on every (re)connect. Safe to share
    between coroutines of one event loop.
    """

    def __init__(self, url: str | ConnectionSettings, *, name: str | None = None) -> None:
        settings = parse_redis_url(url) if isinstance(url, str) else url
        self._settings = replace(settings, name=name) if name is not None else settings
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None
        self._closed = False

    def __repr__(self) -> str:
        s = self._settings
        where = s.path or f"{s.host}:{s.port}"
        return f"RedisClient({where!r}, db={s.db}, name={s.name!r})"

    @property
    def settings(self) -> ConnectionSettings:
        """Where and how this client connects."""
        return self._settings

    def dedicated(self, *, name: str | None = None) -> RedisClient:
        """A new client to the same server with the same settings (and ``name``)."""
        return RedisClient(replace(self._settings, name=name))

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
        timeout = settings.timeout
        try:
            async with asyncio.timeout(settings.connect_timeout):
                if settings.path is not None:
                    _, protocol = await loop.create_unix_connection(
                        lambda: _Protocol(loop, timeout), settings.path
                    )
                else:
                    transport, protocol = await loop.create_connection(
                        lambda: _Protocol(loop, timeout),
                        settings.host or "localhost",
                        settings.port,
                        ssl=settings.ssl,
                        server_hostname=settings.server_hostname,
                    )
                    sock = transport.get_extra_info("socket")
                    if sock is not None:
                        enable_keepalive(sock)
        except TimeoutError:
            where = settings.path or f"{settings.host}:{settings.port}"
            raise RedisConnectionError(
                f"cannot connect to Redis at {where}: no answer within "
                f"{settings.connect_timeout:g}s (socket_connect_timeout)"
                f"{HANDSHAKE_TIMEOUT_HINT if settings.ssl is not None else ''}"
            ) from None
        except (OSError, ssl.SSLError) as exc:
            where = settings.path or f"{settings.host}:{settings.port}"
            raise RedisConnectionError(
                f"cannot connect to Redis at {where}: {exc}{tls_hint(str(exc))}"
            ) from None
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
            if settings.name:
                await protocol.send(pack_command(("CLIENT", "SETNAME", settings.name)))
        except RedisReplyError as exc:
            protocol.close()
            # The server's text, never the password, goes into the message.
            raise RedisReplyError(f"Redis refused the connection setup: {exc}") from None
        return protocol

    async def execute(self, *args: Any) -> Any:
        """Send one command and return its reply (strings decoded as UTF-8).

        A blocking command (``BZPOPMIN``, ``BLPOP`` … or ``XREAD``/``XREADGROUP``
        with ``BLOCK``) may take its block time on top of the timeout.
        """
        protocol = self._protocol
        if protocol is None or protocol.closed:
            protocol = await self._connect()
        block = block_seconds(args)
        if block is None:
            return await protocol.send(pack_command(args))
        return await protocol.send_blocking(pack_command(args), block)

    async def execute_with_head(self, head: CommandHead, args: Sequence[Any]) -> Any:
        """Send ``head`` (its RESP, packed once) followed by ``args``."""
        protocol = self._protocol
        if protocol is None or protocol.closed:
            protocol = await self._connect()
        return await protocol.send(_with_head(head, args))

    def send_now(self, head: CommandHead, args: Sequence[Any], replied: Replied) -> bool:
        """:meth:`execute_with_head` from plain code: the reply (or the connection's
        failure) goes to ``replied`` as it is read. False, with nothing sent, when
        the connection is not open (then await :meth:`execute_with_head`, which
        opens it)."""
        protocol = self._protocol
        if protocol is None or protocol.closed:
            return False
        protocol.send_replied(_with_head(head, args), replied)
        return True

    async def block_then(
        self, blocking: Sequence[Any], head: CommandHead, args: Sequence[Any]
    ) -> tuple[int, asyncio.Future[Any], asyncio.Future[Any]]:
        """Send the blocking command ``blocking`` and, right behind it, ``head`` +
        ``args``: the server runs the second as soon as the block ends, with no
        round trip in between. Returns this connection's client id (for ``CLIENT
        UNBLOCK``) and the two replies' futures. The caller must await the second
        one even when it stops waiting for the first: the server runs it whatever
        happens to the caller, and a reply nobody reads is lost with what it did.
        """
        protocol = self._protocol
        if protocol is None or protocol.closed:
            protocol = await self._connect()
        if protocol.client_id is None:
            protocol.client_id = int(await protocol.send(pack_command(("CLIENT", "ID"))))
        block = block_seconds(blocking)
        assert block is not None, f"{blocking[0]} does not block"
        first = protocol.send_blocking(pack_command(blocking), block)
        second = protocol.send(_with_head(head, args))
        return protocol.client_id, first, second

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
