"""The Lua scripts: loading, ``@include`` expansion and running them by SHA.

Each ``lua/<operation>.lua`` opens with a header comment whose ``KEYS[i] <suffix>``
lines are the script's key contract: :class:`Script` reads them, and the backend
passes the queue's keys in exactly that order (see :mod:`.keys`), so the header
cannot drift from the call site. A suffix with a ``<placeholder>`` (``repeat:<id>``)
is a key only the call knows, which the caller passes after the queue's keys
(``more_keys``). A suffix ``job`` or ``job:<suffix>`` is a key of the one job the
call is about (its hash, ``<job key>:<suffix>``): such lines come last, and the
backend passes them from the job id it was given (:meth:`Script.job_key_names`).
Every key known before a call is in ``KEYS``, as Redis Cluster requires; only a key
found inside the script (a job id popped from a list, a parent named in a job's
hash) is built there, from the queue's base key or that found key, so it shares
the queue's slot (corral refuses a Cluster prefix that would not).

A line ``--- @include "name"`` is replaced by ``lua/includes/name.lua`` (each
include at most once per script, recursively), before the SHA is computed.

Scripts run with EVALSHA; a server that has not seen the script yet (fresh start,
``SCRIPT FLUSH``) answers NOSCRIPT, and the script is loaded and run again.
A refusal (a negative code, alone or with the job's state) becomes the exception
from :func:`corral.errors.error_from_code`, in :func:`refusal` only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

from corral.backends.redis.client import pack_args
from corral.backends.redis.connection import CommandHead, RedisConnection, RedisReplyError
from corral.errors import error_from_code

__all__ = ["Script", "expand_includes", "load_script", "refusal", "script_names"]

_LUA = "lua"
_INCLUDE = re.compile(r'^--- @include "([\w-]+)"\s*$', re.MULTILINE)
_KEY_LINE = re.compile(r"^\s*KEYS\[(\d+)\]\s+(\S+)", re.MULTILINE)


def _read(relative: str) -> str:
    return resources.files(__package__).joinpath(_LUA, relative).read_text(encoding="utf-8")


def expand_includes(source: str, seen: set[str] | None = None) -> str:
    """``source`` with every ``--- @include "name"`` line replaced by that include."""
    seen = set() if seen is None else seen

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in seen:
            return ""
        seen.add(name)
        return expand_includes(_read(f"includes/{name}.lua"), seen)

    return _INCLUDE.sub(replace, source)


def script_names() -> list[str]:
    """Every operation script shipped in the package (file stems of ``lua/*.lua``)."""
    folder = resources.files(__package__).joinpath(_LUA)
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".lua"))


class Script:
    """One operation script: its expanded source, SHA1 and ``KEYS`` suffixes."""

    __slots__ = ("_job_suffixes", "call_keys", "job_keys", "keys", "name", "sha", "source")

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = expand_includes(source)
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()
        declared = _header_keys(name, source)
        self.keys = tuple(k for k in declared if not _is_job_key(k) and "<" not in k)
        """The queue's key suffixes in ``KEYS`` order, as the header declares them."""
        self.call_keys = tuple(k for k in declared if "<" in k)
        """Keys only the call knows (``repeat:<id>``), after the queue's."""
        self.job_keys = tuple(k for k in declared if _is_job_key(k))
        """The job's key suffixes (``job``, ``job:<suffix>``), after the others."""
        if declared != self.keys + self.call_keys + self.job_keys:
            raise RuntimeError(
                f"lua/{name}.lua: declare the queue's KEYS, then the call's, then the job's"
            )
        self._job_suffixes = tuple(k[3:] for k in self.job_keys)

    def head(self, keys: Sequence[str], jobs: int = 1) -> CommandHead:
        """``EVALSHA sha numkeys keys…`` packed once, for :meth:`run`; the job's keys
        (:meth:`job_key_names`) are the first arguments of each call: those of
        ``jobs`` jobs in turn, for a script that takes several."""
        parts = ("EVALSHA", self.sha, len(keys) + len(self.job_keys) * jobs, *keys)
        return CommandHead(len(parts), pack_args(parts), parts)

    def job_key_names(self, job_key: str) -> list[str]:
        """The job's ``KEYS`` for the job whose hash is ``job_key``."""
        return [job_key + suffix for suffix in self._job_suffixes]

    async def run(self, client: RedisConnection, head: CommandHead, args: Sequence[Any]) -> Any:
        """EVALSHA the script (``head`` from :meth:`head`), loading it first if the
        server does not know it."""
        try:
            return await client.execute_with_head(head, args)
        except RedisReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            await client.execute("SCRIPT", "LOAD", self.source)
            return await client.execute_with_head(head, args)


def _is_job_key(suffix: str) -> bool:
    return suffix == "job" or suffix.startswith("job:")


def _header_keys(name: str, source: str) -> tuple[str, ...]:
    header_end = source.find("]]")
    found = {int(i): suffix for i, suffix in _KEY_LINE.findall(source[:header_end])}
    if sorted(found) != list(range(1, len(found) + 1)):
        raise RuntimeError(f"lua/{name}.lua: KEYS in its header are not numbered 1..n")
    return tuple(found[i] for i in range(1, len(found) + 1))


@cache
def load_script(name: str) -> Script:
    """The script ``lua/<name>.lua``, read and hashed once per process."""
    return Script(name, _read(f"{name}.lua"))


def refusal(
    reply: Any,
    *,
    operation: str,
    job_id: str | None = None,
    queue: str | None = None,
    expected: str | None = None,
) -> None:
    """Raise the refusal ``reply`` stands for; return when it is none.

    The scripts' one convention (``lua/includes/state.lua``): a negative integer
    is a code alone; a two-item array ``[code, detail]`` with a negative code is a
    code with what the store knows about it: the job's state name (text) or a
    count (integer). Every refusal the Redis backend raises is made here, by
    :func:`corral.errors.error_from_code`.
    """
    kind = type(reply)
    if kind is int:
        if reply >= 0:
            return
        code, detail = reply, None
    elif kind is list and len(reply) == 2 and type(reply[0]) is int and reply[0] < 0:
        code, detail = reply
    else:
        return
    raise error_from_code(
        code,
        operation=operation,
        job_id=job_id,
        queue=queue,
        state=detail if type(detail) is str else None,
        expected=expected,
        count=detail if type(detail) is int else None,
    )
