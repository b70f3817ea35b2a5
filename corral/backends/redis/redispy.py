"""Redis Cluster and Sentinel connections, over redis-py.

corral's own client (:mod:`.client`) talks to one standalone server. For a
Cluster or a Sentinel-managed primary, :func:`open_deployment` makes a
:class:`~corral.backends.redis.connection.RedisConnection` over redis-py's
asyncio ``RedisCluster`` and ``Sentinel`` (the ``redis`` extra installs it), so
the backend above sees the same five methods and the same rules:

* **Replies keep RESP2's shapes.** redis-py's reply callbacks (``HGETALL`` → dict,
  ``SCAN`` → tuple …) are switched off for the commands corral sends.
* **Nothing is retried.** redis-py is built with zero retries; what is still
  repeated are redirections the server answered without running the command
  (``MOVED``, ``ASK``, ``TRYAGAIN``). Anything else that leaves the outcome
  unknown raises :class:`RedisConnectionError`, and the next command finds the
  topology again (a promoted replica, a moved slot, a new Sentinel primary).
* **Command timeout and keepalive** as with corral's client: a command that
  makes no progress for ``socket_timeout`` seconds (a blocking one: its block
  time on top) fails, and TCP keepalive probes an idle peer after 30 s.
* **Blocking commands** run on :meth:`dedicated` clients of their own.
* **One topology per event loop.** On a Cluster, every non-blocking connection
  of one event loop to one deployment (every Queue and Worker of a process on the
  same URL) shares one redis-py client: the slot table is read once, a refresh
  after a failure serves them all, and the client closes with the last of them.
* **A batch** (:meth:`execute_many`) goes to one server on one connection, in
  order: on a Cluster, the server holding the slot of the batch's first key (a
  ``MULTI`` … ``EXEC`` or a script followed by ``WAIT`` names keys of one slot).
* **SCAN** on a Cluster walks every primary in turn; its cursor is this
  connection's own (``"<primary>-<cursor>"``), and ``"0"`` ends the walk as usual.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import socket
import weakref
from collections.abc import Sequence
from typing import Any

from redis import exceptions as rex
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, PipelineCommand, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel
from redis.backoff import NoBackoff

from corral.backends.redis.client import _KEEPALIVE, block_seconds
from corral.backends.redis.connection import (
    CommandHead,
    RedisConnection,
    RedisConnectionError,
    RedisReplyError,
)
from corral.backends.redis.deployments import Deployment
from corral.backends.redis.tls import closed_before_reply_hint, tls_hint

__all__ = ["ClusterConnection", "SentinelConnection", "open_deployment"]

_KEPT_CALLBACKS = ("CLUSTER", "COMMAND")
"""redis-py's own topology and command-table reads need their reply callbacks."""
_LOST = (rex.ConnectionError, rex.TimeoutError, rex.ClusterError, rex.RedisClusterException)
_HUNG_UP = ("reset by peer", "closed by server", "connection lost", "broken pipe")
"""How redis-py reports a server that closed the connection (lower case)."""


def _keepalive_options() -> dict[int, int]:
    options: dict[int, int] = {}
    for name, value in _KEEPALIVE:
        option = getattr(socket, name, None)
        if option is None and name == "TCP_KEEPIDLE":
            option = getattr(socket, "TCP_KEEPALIVE", None)  # macOS's name for it
        if option is not None:
            options[option] = value
    return options


def _client_kwargs(deployment: Deployment, *, name: str | None, blocking: bool) -> dict[str, Any]:
    """redis-py keyword arguments for the servers of ``deployment``."""
    s = deployment.settings
    kwargs: dict[str, Any] = {
        "username": s.username,
        "password": s.password,
        "client_name": name,
        "decode_responses": True,
        "encoding_errors": "replace",
        # Blocking commands are timed here (block time + socket_timeout), not by redis-py.
        "socket_timeout": None if blocking else s.timeout,
        "socket_connect_timeout": s.connect_timeout,
        "socket_keepalive": True,
        "socket_keepalive_options": _keepalive_options(),
        "retry": Retry(NoBackoff(), 0),
        "protocol": 2,  # RESP2's reply shapes, whatever redis-py's default
    }
    if s.ssl is not None:
        tls = deployment.tls
        kwargs.update(
            ssl=True,
            ssl_ca_certs=tls.get("ssl_ca_certs"),
            ssl_certfile=tls.get("ssl_certfile"),
            ssl_keyfile=tls.get("ssl_keyfile"),
            ssl_cert_reqs=tls.get("ssl_cert_reqs", "required").lower(),
            ssl_check_hostname=s.ssl.check_hostname,
        )
    return kwargs


def _strip_callbacks(callbacks: Any) -> None:
    """Drop every reply callback but redis-py's own topology ones, so replies keep
    RESP2's shapes (the backend parses them)."""
    for command in list(callbacks):
        text = command.decode() if isinstance(command, bytes) else str(command)
        if not text.upper().startswith(_KEPT_CALLBACKS):
            del callbacks[command]


def _reply_error(exc: rex.ResponseError) -> RedisReplyError:
    if isinstance(exc, rex.NoScriptError):
        return RedisReplyError(f"NOSCRIPT {exc}")
    return RedisReplyError(str(exc))


class _Managed:
    """What the Cluster and the Sentinel connections share: timing and error mapping."""

    def __init__(self, deployment: Deployment, *, name: str | None, blocking: bool) -> None:
        self._deployment = deployment
        self._name = name
        self._blocking = blocking
        self._timeout = deployment.settings.timeout
        self._closed = False
        self._answered = False
        """Whether a server ever answered this connection (see :meth:`_hint`)."""

    def _allowance(self, args: Sequence[Any]) -> float:
        block = block_seconds(args) if self._blocking else None
        if block is None:
            return self._timeout
        return math.inf if math.isinf(block) else block + self._timeout

    async def _call(self, allowance: float, call: Any) -> Any:
        if self._closed:
            raise RedisConnectionError("this Redis connection is closed")
        try:
            if math.isinf(allowance):
                reply = await call()
            else:
                async with asyncio.timeout(allowance):
                    reply = await call()
        except TimeoutError:
            self._lost()
            raise RedisConnectionError(
                f"Redis did not answer within {allowance:g}s (socket_timeout); the outcome "
                "of the command is unknown"
            ) from None
        except rex.ReadOnlyError as exc:
            # A primary demoted under us (failover): it ran nothing.
            self._lost()
            raise RedisConnectionError(f"Redis primary changed: {exc}") from None
        except rex.ResponseError as exc:
            if isinstance(exc, rex.ClusterDownError):
                self._lost()
                raise RedisConnectionError(f"Redis Cluster is down: {exc}") from None
            raise _reply_error(exc) from None
        except _LOST as exc:
            self._lost()
            detail = await self._explain(exc)
            raise RedisConnectionError(f"connection to Redis lost: {detail}") from None
        self._answered = True
        return reply

    def _lost(self) -> None:
        """The topology may have changed: look it up again before the next command."""

    async def _explain(self, exc: Exception) -> str:
        """What went wrong, with the URL parameter that fixes a TLS failure."""
        return f"{exc}{self._hint(str(exc))}"

    def _hint(self, text: str) -> str:
        """What to change for the failure ``text`` reports: a TLS setting, or (a server
        that hung up before ever answering) the scheme or the client certificate."""
        hint = tls_hint(text)
        if not hint and not self._answered and any(h in text.lower() for h in _HUNG_UP):
            hint = closed_before_reply_hint(self._deployment.uses_tls)
        return hint

    async def execute_with_head(self, head: CommandHead, args: Sequence[Any]) -> Any:
        """Send ``head.args + args`` and return the reply."""
        return await self.execute(*head.args, *args)

    async def execute(self, *args: Any) -> Any:  # pragma: no cover - both subclasses define it
        raise NotImplementedError


class SentinelConnection(_Managed):
    """The primary of a Sentinel service, found through the sentinels; after a
    failover the next command reaches the new primary."""

    def __init__(
        self,
        deployment: Deployment,
        *,
        name: str | None = None,
        blocking: bool = False,
        sentinel: Sentinel | None = None,
    ) -> None:
        super().__init__(deployment, name=name, blocking=blocking)
        s = deployment.settings
        if sentinel is None:
            sentinel_kwargs: dict[str, Any] = {
                "socket_timeout": s.timeout,
                "socket_connect_timeout": s.connect_timeout,
                "socket_keepalive": True,
                "socket_keepalive_options": _keepalive_options(),
                "retry": Retry(NoBackoff(), 0),
                "username": deployment.sentinel_username,
                "password": deployment.sentinel_password,
            }
            if s.ssl is not None:
                tls = _client_kwargs(deployment, name=None, blocking=False)
                sentinel_kwargs.update({k: v for k, v in tls.items() if k.startswith("ssl")})
            sentinel = Sentinel(  # type: ignore[no-untyped-call]
                list(deployment.nodes), sentinel_kwargs=sentinel_kwargs
            )
        self._sentinel = sentinel
        self._owns_sentinel = not blocking
        kwargs = _client_kwargs(deployment, name=name, blocking=blocking)
        kwargs["db"] = s.db
        self._client: Redis = sentinel.master_for(deployment.service or "", **kwargs)
        _strip_callbacks(self._client.response_callbacks)

    def __repr__(self) -> str:
        return f"SentinelConnection(service={self._deployment.service!r}, name={self._name!r})"

    async def _explain(self, exc: Exception) -> str:
        if not isinstance(exc, MasterNotFoundError):
            return await super()._explain(exc)
        # redis-py's error names the sentinels' failures by type only: ask each
        # sentinel again to say why (a TLS setting, a password, a wrong service).
        service = self._deployment.service or ""

        async def ask(sentinel: Redis) -> str:
            kwargs = sentinel.connection_pool.connection_kwargs
            where = f"{kwargs.get('host')}:{kwargs.get('port')}"
            try:
                async with asyncio.timeout(self._timeout):
                    found = await sentinel.execute_command(  # type: ignore[no-untyped-call]
                        "SENTINEL", "GET-MASTER-ADDR-BY-NAME", service
                    )
            except TimeoutError:
                return f"{where}: no answer within {self._timeout:g}s"
            except rex.RedisError as error:
                return f"{where}: {error}"
            return f"{where}: {'its primary is down' if found else 'no such service'}"

        reasons = "; ".join(await asyncio.gather(*(ask(s) for s in self._sentinel.sentinels)))
        return f"no sentinel names a live primary of {service!r} ({reasons}){self._hint(reasons)}"

    async def execute(self, *args: Any) -> Any:
        """Send one command to the primary and return its reply."""
        client = self._client
        return await self._call(
            self._allowance(args),
            lambda: client.execute_command(*args),  # type: ignore[no-untyped-call]
        )

    async def execute_many(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Send ``commands`` back to back on one connection and return the replies."""

        async def run() -> list[Any]:
            pipe = self._client.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            return list(await pipe.execute())

        return list(await self._call(self._timeout, run))

    def dedicated(self, *, name: str | None = None) -> SentinelConnection:
        """A connection of its own to the service's primary (same sentinels)."""
        return SentinelConnection(
            self._deployment, name=name, blocking=True, sentinel=self._sentinel
        )

    async def close(self) -> None:
        """Close the connections (and the sentinels' ones, for the shared connection)."""
        if self._closed:
            return
        self._closed = True
        await self._client.aclose()
        if self._owns_sentinel:
            for sentinel in self._sentinel.sentinels:
                await sentinel.aclose()


class _SharedCluster:
    """A redis-py Cluster client (slot table, node connections) and its refresh
    state, for the connections that share it; closed with the last of them."""

    __slots__ = ("client", "refresh", "refreshed_at", "refreshing", "seeds_idle", "users")

    def __init__(self, client: RedisCluster) -> None:
        self.client = client
        self.seeds_idle = False
        """Whether the seed nodes' connections were let go since the slot table
        was last read (see :meth:`ClusterConnection._ready`)."""
        self.refresh = False
        """Whether a failure was seen since the slot table was last read."""
        self.refreshed_at = -math.inf
        self.refreshing: asyncio.Lock | None = None
        self.users = 0


_SHARED: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[Any, ...], _SharedCluster]
] = weakref.WeakKeyDictionary()
"""The shared Cluster clients of each event loop, by :func:`_sharing_key`."""


def _sharing_key(deployment: Deployment) -> tuple[Any, ...]:
    """What makes two deployments' non-blocking clients interchangeable (an SSL
    context is made per URL reading: the URL's TLS parameters stand for it)."""
    s = deployment.settings
    tls = (s.ssl is not None, s.ssl.check_hostname if s.ssl else False)
    plain = dataclasses.replace(s, ssl=None)
    return (deployment.nodes, plain, tls, tuple(sorted(deployment.tls.items())))


def _cluster_client(deployment: Deployment, *, name: str | None, blocking: bool) -> RedisCluster:
    seeds = [ClusterNode(host, port) for host, port in deployment.nodes]
    client = RedisCluster(
        startup_nodes=seeds,
        require_full_coverage=False,
        # A MOVED patches the slot table; never a disconnect of every node, which
        # would fail the commands other coroutines have in flight.
        reinitialize_steps=0,
        **_client_kwargs(deployment, name=name, blocking=blocking),
    )
    _strip_callbacks(client.response_callbacks)
    return client


class ClusterConnection(_Managed):
    """A Redis Cluster: each command goes to the primary of its keys' slot.

    redis-py finds the nodes and the slots; corral sends every command that names
    a key itself, on one connection of the node serving the slot, so that the
    answers a node gives without running the command are followed as the Cluster
    specification says: ``MOVED`` patches the slot table and resends, ``ASK`` sends
    ``ASKING`` and the command *on the same connection* to the importing node,
    ``TRYAGAIN`` (a multi-key command during a slot migration) waits and resends
    until the migration is over or the command's time is up. After a connection
    failure the slot table is read again (at most every 0.2 s), so a promoted
    replica is found.

    A non-blocking connection shares its redis-py client with the others of its
    event loop and deployment (see the module docstring); a :meth:`dedicated` one
    has its own.
    """

    cluster = True
    """The backend checks that every queue's keys share one hash slot."""

    def __init__(
        self, deployment: Deployment, *, name: str | None = None, blocking: bool = False
    ) -> None:
        super().__init__(deployment, name=name, blocking=blocking)
        self._state: _SharedCluster | None = None
        if blocking or name is not None:
            self._state = _SharedCluster(_cluster_client(deployment, name=name, blocking=blocking))
            self._state.users = 1

    def __repr__(self) -> str:
        return f"ClusterConnection(seeds={list(self._deployment.nodes)!r}, name={self._name!r})"

    def _shared_state(self) -> _SharedCluster:
        """This connection's client: its own, or the one its event loop shares."""
        state = self._state
        if state is None:
            shared = _SHARED.setdefault(asyncio.get_running_loop(), {})
            key = _sharing_key(self._deployment)
            state = shared.get(key)
            if state is None:
                client = _cluster_client(self._deployment, name=None, blocking=False)
                state = shared[key] = _SharedCluster(client)
            state.users += 1
            self._state = state
        return state

    async def _ready(self) -> RedisCluster:
        state = self._shared_state()
        await state.client.initialize()
        if state.refresh:
            await self._refresh_slots(state)
        if not state.seeds_idle and self._name is not None:
            await self._let_seeds_go(state)
        return state.client

    @staticmethod
    async def _let_seeds_go(state: _SharedCluster) -> None:
        """Close the idle connections redis-py keeps to the seed nodes it read the
        slot table from. A named client (a worker's marker connection) would
        otherwise be listed twice by ``CLIENT LIST`` on a node that is both a seed
        and the primary of the queue's slot, and ``get_workers`` would show the
        worker twice."""
        state.seeds_idle = True
        manager = state.client.nodes_manager
        serving = manager.nodes_cache
        seeds = [
            node for name, node in manager.startup_nodes.items() if serving.get(name) is not node
        ]
        await asyncio.gather(*(node.disconnect_free_connections() for node in seeds))

    async def _refresh_slots(self, state: _SharedCluster) -> None:
        if state.refreshing is None:
            state.refreshing = asyncio.Lock()
        async with state.refreshing:
            loop = asyncio.get_running_loop()
            if not state.refresh or loop.time() - state.refreshed_at < _REFRESH_EVERY:
                return
            state.refresh = False
            state.refreshed_at = loop.time()
            await state.client.nodes_manager.initialize()
            state.seeds_idle = False

    def _lost(self) -> None:
        if self._state is not None:
            self._state.refresh = True

    async def execute(self, *args: Any) -> Any:
        """Send one command to the primary of its slot and return its reply."""
        name = str(args[0]).upper()
        if name == "SCAN":
            return await self._call(self._timeout, lambda: self._scan(args))
        key = _first_key([args])
        if key is not None:
            replies = await self._call(self._allowance(args), lambda: self._routed([args], key))
            return replies[0]

        async def unkeyed() -> Any:
            client = await self._ready()
            if name == "SCRIPT" and len(args) > 1:
                # SCRIPT LOAD / FLUSH / EXISTS: on every primary (redis-py's routing
                # by the joined name), so any primary can run the script.
                return await client.execute_command(f"{args[0]} {args[1]}".upper(), *args[2:])
            node = client.get_default_node()
            if node is None:
                raise RedisConnectionError("the Redis Cluster has no node to send to")
            return await node.execute_command(*args)  # one node, its own reply

        return await self._call(self._timeout, unkeyed)

    async def _scan(self, args: Sequence[Any]) -> list[Any]:
        """One step of a SCAN over every primary, with a cursor of this connection's own."""
        client = await self._ready()
        primaries = sorted(client.get_primaries(), key=lambda n: n.name)
        index_text, _, cursor = str(args[1]).partition("-")
        index = int(index_text) if cursor else 0
        cursor = cursor or "0"
        if index >= len(primaries):
            return ["0", []]
        next_cursor, keys = await primaries[index].execute_command("SCAN", cursor, *args[2:])
        if str(next_cursor) != "0":
            return [f"{index}-{next_cursor}", keys]
        if index + 1 < len(primaries):
            return [f"{index + 1}-0", keys]
        return ["0", keys]

    async def execute_many(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Send ``commands`` to the primary of the first key's slot, on one connection."""
        key = _first_key(commands)
        if key is None:
            raise RedisReplyError("a batch on a Redis Cluster must name a key (its slot)")
        return list(await self._call(self._timeout, lambda: self._routed(commands, key)))

    async def _routed(self, commands: Sequence[Sequence[Any]], key: str) -> list[Any]:
        """Run ``commands`` on one connection of the node serving ``key``'s slot,
        following MOVED, ASK and TRYAGAIN (none of which ran the command)."""
        client = await self._ready()
        node = client.get_node_from_key(key)
        asking = False
        pause = 0.01
        while True:
            if node is None:
                raise RedisConnectionError(f"no Redis Cluster node serves the slot of {key!r}")
            results = await _send(node, commands, asking=asking)
            redirect = next(
                (r for r in results if isinstance(r, rex.AskError | rex.TryAgainError)), None
            )
            asking = False
            if isinstance(redirect, rex.MovedError):
                await client.nodes_manager.move_slot(redirect)
                node = client.get_node_from_key(key)
            elif isinstance(redirect, rex.AskError):
                node = client.get_node(host=redirect.host, port=redirect.port)
                if node is None:
                    await client.nodes_manager.move_slot(redirect)
                    node = client.get_node(host=redirect.host, port=redirect.port)
                asking = True
            elif isinstance(redirect, rex.TryAgainError):
                # A slot migration is moving this batch's keys: wait it out (the
                # command's timeout bounds the wait).
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.2)
            else:
                for result in results:
                    if isinstance(result, BaseException):
                        raise result
                return results

    def dedicated(self, *, name: str | None = None) -> ClusterConnection:
        """A cluster client of its own (same seeds), for blocking commands."""
        return ClusterConnection(self._deployment, name=name, blocking=True)

    async def close(self) -> None:
        """Close this connection; the node connections close with the last
        connection that shares them."""
        if self._closed:
            return
        self._closed = True
        state, self._state = self._state, None
        if state is None:
            return
        state.users -= 1
        if state.users > 0:
            return
        for shared in _SHARED.values():
            for key, found in list(shared.items()):
                if found is state:
                    del shared[key]
        await state.client.aclose()


async def _send(node: ClusterNode, commands: Sequence[Sequence[Any]], *, asking: bool) -> list[Any]:
    """The replies (an error reply as its exception) of ``commands`` sent to ``node``
    on one connection, after ``ASKING`` when ``asking``."""
    if len(commands) == 1 and not asking:
        try:
            return [await node.execute_command(*commands[0])]
        except rex.ResponseError as exc:  # MOVED, ASK, TRYAGAIN or the command's error
            return [exc]
    batch = [("ASKING",), *commands] if asking else list(commands)
    piped = [PipelineCommand(i, *c) for i, c in enumerate(batch)]
    await node.execute_pipeline(piped)
    return [p.result for p in piped][1 if asking else 0 :]


_REFRESH_EVERY = 0.2
"""Seconds between two readings of the slot table after failures."""
_KEYLESS = frozenset(
    {
        "ACL", "ASKING", "AUTH", "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "DBSIZE", "DEBUG",
        "ECHO", "EXEC", "FLUSHALL", "FLUSHDB", "FUNCTION", "HELLO", "INFO", "KEYS", "LATENCY",
        "MEMORY", "MULTI", "PING", "READONLY", "READWRITE", "SCAN", "SCRIPT", "SELECT",
        "SLOWLOG", "TIME", "WAIT",
    }
)  # fmt: skip
"""Commands that name no key: redis-py routes them."""


def _first_key(commands: Sequence[Sequence[Any]]) -> str | None:
    """The first key a batch names: a script's first ``KEYS`` entry, the first
    stream of ``XREAD``, or a command's first argument; None when none names one."""
    for command in commands:
        name = str(command[0]).upper()
        if name in _KEYLESS:
            continue
        if name in ("EVAL", "EVALSHA"):
            if len(command) > 3 and int(command[2]) > 0:
                return str(command[3])
            continue
        if name in ("XREAD", "XREADGROUP"):
            words = [str(a).upper() for a in command]
            if "STREAMS" in words and words.index("STREAMS") + 1 < len(command):
                return str(command[words.index("STREAMS") + 1])
            continue
        if len(command) > 1:
            return str(command[1])
    return None


def open_deployment(deployment: Deployment) -> RedisConnection:
    """The shared connection for ``deployment`` (no I/O until its first command)."""
    if deployment.kind == "cluster":
        return ClusterConnection(deployment)
    return SentinelConnection(deployment)
