"""What the Redis backend needs from a connection: the :class:`RedisConnection` protocol.

The backend speaks to Redis only through these five methods, so the connection
behind it can be swapped: corral's own pipelining client
(:class:`~corral.backends.redis.client.RedisClient`, the default) or any object
a user hands to ``RedisBackend(..., connection=...)``, for instance an adapter
over a maintained client (for Cluster or Sentinel, which the fast client does
not speak). This module uses only the standard library.

What an implementation promises:

* **Replies** have RESP2's shapes: bulk strings decoded as UTF-8 ``str``,
  integers as ``int``, arrays as ``list``, nil as ``None``.
* **Errors**: a server error reply raises :class:`RedisReplyError` with the
  server's text (``NOSCRIPT …`` must start with ``NOSCRIPT``, so a script can be
  loaded and run again); anything that leaves the outcome unknown (refused
  connection, dropped connection, no answer in time) raises
  :class:`RedisConnectionError`. Commands are never retried by the connection.
* **Blocking commands**: the backend sends ``BZPOPMIN`` and ``XREAD BLOCK`` only
  on connections from :meth:`RedisConnection.dedicated`, never on the shared one,
  so they never hold up other commands.
* Safe to share between the coroutines of one event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

__all__ = ["CommandHead", "RedisConnection", "RedisConnectionError", "RedisReplyError"]


class RedisReplyError(Exception):
    """The server answered a command with an error (``-ERR …``, ``-NOSCRIPT …``)."""


class RedisConnectionError(ConnectionError):
    """The connection failed, dropped or did not answer in time; the outcome is unknown."""


class CommandHead(NamedTuple):
    """The fixed first arguments of a command that is sent many times (a script's
    ``EVALSHA sha numkeys keys…``), kept as values and as RESP packed once."""

    arg_count: int
    """How many arguments the head holds."""
    packed: bytes
    """``args`` as RESP bulk strings, for implementations that write RESP themselves."""
    args: tuple[Any, ...]
    """The arguments themselves, for implementations that do not."""


@runtime_checkable
class RedisConnection(Protocol):
    """A connection to one Redis server (see the module docstring for the rules)."""

    async def execute(self, *args: Any) -> Any:
        """Send one command and return its reply."""
        ...

    async def execute_with_head(self, head: CommandHead, args: Sequence[Any]) -> Any:
        """Send the command ``head.args + args`` and return its reply (the fast path
        every script call takes)."""
        ...

    async def execute_many(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Send ``commands`` back to back, nothing else between them (so ``MULTI`` …
        ``EXEC`` is safe), and return their replies in order; an error reply raises."""
        ...

    def dedicated(self, *, name: str | None = None) -> RedisConnection:
        """A new connection of its own to the same server, for blocking commands;
        ``name`` is set with ``CLIENT SETNAME``. No I/O happens until it is used,
        and the caller closes it."""
        ...

    async def close(self) -> None:
        """Close the connection; later commands fail. Safe to call more than once."""
        ...
