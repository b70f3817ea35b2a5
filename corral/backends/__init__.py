"""Open a storage backend from a URL.

| URL | backend |
|---|---|
| ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, ``sqlite://:memory:`` | embedded SQLite |
| ``redis://[user:password@]host:port/db``, ``rediss://…``, ``unix:///path/redis.sock`` | Redis, shared with Node BullMQ 6 |
| ``redis+cluster://host:port[,host:port…]``, ``rediss+cluster://…`` | a Redis Cluster |
| ``redis+sentinel://host:port[,host:port…]/SERVICE[/db]``, ``rediss+sentinel://…`` | a Sentinel-managed primary |

``valkey://`` and ``valkeys://`` (and ``valkey+cluster://`` …) are aliases of the
``redis`` schemes.

With no URL, ``CORRAL_URL`` from the environment is used, and without it the
embedded default :data:`DEFAULT_URL` (a ``corral.db`` file in the current
directory). Each backend module is imported only when its scheme is used, so
the Redis backend's extra (``pip install 'corral[redis]'``) is needed only for
Redis. A Redis URL's parameters are listed in :mod:`corral.backends.redis.settings`.

:func:`mask_url` is the one way a URL is shown: in ``repr``, ``.url`` and messages.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from corral.backends.base import Backend
from corral.errors import ConfigurationError

if TYPE_CHECKING:
    from corral.backends.redis.connection import RedisConnection

__all__ = ["DEFAULT_URL", "Backend", "open_backend", "resolve_url"]

DEFAULT_URL = "sqlite:///corral.db"
"""The URL used when neither ``url=`` nor ``CORRAL_URL`` is given."""

_REDIS_SCHEMES = (
    *(
        f"{scheme}://"
        for name in ("redis", "rediss", "valkey", "valkeys")
        for scheme in (name, f"{name}+cluster", f"{name}+sentinel")
    ),
    "unix://",
)
_GIVEN = "redis://(given connection)"
"""The URL shown for a Redis backend on a connection handed in without a URL."""
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_SECRET_PARAMETER = re.compile(r"(?i)([?&][^=&#]*(?:pass|secret|token|auth)[^=&#]*=)[^&#]*")


def resolve_url(url: str | None) -> str:
    """The URL to use: ``url``, else ``$CORRAL_URL``, else :data:`DEFAULT_URL`."""
    if url is None:
        url = os.environ.get("CORRAL_URL") or DEFAULT_URL
    if not isinstance(url, str):
        # Not the value itself: a URL is likely to hold a password.
        raise TypeError(
            f"url must be a string such as 'redis://localhost:6379/0', not {type(url).__name__}"
        )
    return url


def open_backend(
    url: str | None, *, prefix: str = "bull", connection: RedisConnection | None = None
) -> Backend:
    """Create the backend for ``url`` (see the module docstring); no I/O happens yet.

    ``connection``: a Redis connection to use instead of opening one (see
    :class:`~corral.backends.redis.RedisBackend`); ``url`` may then be None, or a
    Redis URL that only names the store in messages.
    """
    if connection is not None:
        if url is not None and not url.startswith(_REDIS_SCHEMES):
            raise ConfigurationError(
                f"connection= is a Redis connection, but the URL {mask_url(url)!r} is not "
                "a Redis URL: pass a redis:// URL (or none) with it"
            )
        from corral.backends.redis import RedisBackend

        return RedisBackend(url or _GIVEN, prefix=prefix, connection=connection)
    resolved = resolve_url(url)
    if resolved.startswith(_REDIS_SCHEMES):
        from corral.backends.redis import RedisBackend

        return RedisBackend(resolved, prefix=prefix)
    if resolved.startswith("sqlite://"):
        from corral.backends.sqlite import SQLiteBackend

        return SQLiteBackend(resolved, prefix=prefix)
    shown = mask_url(resolved)
    scheme, sep, _ = shown.partition("://")
    if sep and _SCHEME.fullmatch(scheme):
        what = f"URL scheme {scheme!r} in {shown!r}"
    else:
        what = f"URL {shown!r} (it has no scheme://)"
    raise ConfigurationError(
        f"unsupported queue {what}: use 'sqlite:///path.db' (embedded) or 'redis://host:port/db'"
    )


def mask_url(url: str) -> str:
    """``url`` with its credentials replaced by ``***``, safe to log or show.

    Works on any text, well-formed or not: everything before the last ``@``
    after the scheme is the credentials (only a user name before a ``:`` stays
    visible), and the value of a query parameter whose name suggests a secret
    (``password``, ``token`` …) and any ``#fragment`` are masked too. It may mask
    more than needed, never less. A SQLite URL that is a path (``sqlite:///…``, no
    query) is shown as it is.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or not _SCHEME.fullmatch(scheme):
        scheme, sep, rest = "", "", url
    if scheme == "sqlite" and rest.startswith("/") and "?" not in rest:
        return url  # a path: an "@" or "#" there is no credential
    userinfo, at, location = rest.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        shown_user = f"{user}:***" if colon and "/" not in user and "?" not in user else "***"
        rest = f"{shown_user}@{location}"
    rest, hash_sign, _ = rest.partition("#")
    return scheme + sep + _SECRET_PARAMETER.sub(r"\1***", rest) + ("#***" if hash_sign else "")
