"""Open a storage backend from a URL.

| URL | backend |
|---|---|
| ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, ``sqlite://:memory:`` | embedded SQLite |
| ``redis://[user:password@]host:port/db``, ``rediss://…``, ``unix:///path/redis.sock`` | Redis, shared with Node BullMQ 6 |

With no URL, ``CORRAL_URL`` from the environment is used, and without it the
embedded default :data:`DEFAULT_URL` (a ``corral.db`` file in the current
directory). Each backend module is imported only when its scheme is used.
"""

from __future__ import annotations

import os

from corral.backends.base import Backend
from corral.errors import ConfigurationError

__all__ = ["DEFAULT_URL", "Backend", "open_backend", "resolve_url"]

DEFAULT_URL = "sqlite:///corral.db"
"""The URL used when neither ``url=`` nor ``CORRAL_URL`` is given."""

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def resolve_url(url: str | None) -> str:
    """The URL to use: ``url``, else ``$CORRAL_URL``, else :data:`DEFAULT_URL`."""
    if url is None:
        url = os.environ.get("CORRAL_URL") or DEFAULT_URL
    if not isinstance(url, str):
        raise TypeError(f"url must be a string such as 'redis://localhost:6379/0', not {url!r}")
    return url


def open_backend(url: str | None, *, prefix: str = "bull") -> Backend:
    """Create the backend for ``url`` (see the module docstring); no I/O happens yet."""
    resolved = resolve_url(url)
    if resolved.startswith(_REDIS_SCHEMES):
        from corral.backends.redis import RedisBackend

        return RedisBackend(resolved, prefix=prefix)
    if resolved.startswith("sqlite://"):
        from corral.backends.sqlite import SQLiteBackend

        return SQLiteBackend(resolved, prefix=prefix)
    scheme = resolved.split("://", 1)[0] if "://" in resolved else resolved
    raise ConfigurationError(
        f"unsupported queue URL scheme {scheme!r} in {mask_url(resolved)!r}: use "
        "'sqlite:///path.db' (embedded) or 'redis://host:port/db'"
    )


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe to log or show."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, _, host = rest.rpartition("@")
    if ":" in creds:
        user = creds.split(":", 1)[0]
        creds = f"{user}:***"
    else:
        creds = "***" if "/" not in creds else creds
    return f"{scheme}://{creds}@{host}"
