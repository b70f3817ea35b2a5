"""The embedded SQLite backend: one file, no server, the same behaviour as Redis.

See :mod:`corral.backends.sqlite.backend` for the URL forms and
:mod:`corral.backends.sqlite.ops` for how each operation maps to SQL.
"""

from corral.backends.sqlite.backend import SQLiteBackend

__all__ = ["SQLiteBackend"]
